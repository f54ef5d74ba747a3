// Renders /api/openapi.json as a plain reference page: operations, their
// parameters, request bodies, responses and the schemas they name. No
// outside resources; everything is built with DOM calls (never innerHTML).

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  for (const child of children) {
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function schemaName(schema) {
  if (!schema) return "";
  if (schema.$ref) return schema.$ref.split("/").pop();
  if (schema.anyOf) return schema.anyOf.map(schemaName).join(" | ");
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (schema.type === "array") return `${schemaName(schema.items)}[]`;
  return [].concat(schema.type || "any").join(" | ");
}

function parameters(list) {
  if (!list || list.length === 0) return "";
  const rows = list.map((p) =>
    element("tr", {}, element("td", {}, element("code", {}, p.name)), element("td", {}, p.in),
      element("td", {}, schemaName(p.schema)), element("td", {}, p.description || "")));
  return element("table", {}, element("tr", {}, element("th", {}, "parameter"),
    element("th", {}, "in"), element("th", {}, "type"), element("th", {}, "")), ...rows);
}

function content(body) {
  if (!body || !body.content) return "";
  return Object.entries(body.content)
    .map(([type, media]) => `${type} ${media.schema ? schemaName(media.schema) : ""}`).join(", ");
}

function operation(path, method, op) {
  const responses = Object.entries(op.responses || {}).map(([status, response]) =>
    element("li", {}, element("code", {}, status), ` ${response.description} `, content(response)));
  const security = (op.security || []).map((s) => Object.keys(s)[0] || "none").join(", ");
  return element("section", { class: "operation", id: `${method}-${path}` },
    element("h3", {}, element("span", { class: `method ${method}` }, method), element("code", {}, path)),
    element("p", {}, op.summary || ""),
    security ? element("p", {}, `Credentials: ${security}`) : "",
    parameters(op.parameters),
    op.requestBody ? element("p", {}, `Body: ${content(op.requestBody)}`) : "",
    element("ul", {}, ...responses));
}

function schemaSection(name, schema) {
  return element("section", { id: `schema-${name}` }, element("h3", {}, name),
    element("pre", {}, JSON.stringify(schema, null, 2)));
}

async function render() {
  const main = document.getElementById("reference");
  try {
    const response = await fetch("/api/openapi.json", { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const spec = await response.json();
    const operations = [];
    for (const [path, item] of Object.entries(spec.paths)) {
      for (const [method, op] of Object.entries(item)) operations.push(operation(path, method, op));
    }
    const schemas = Object.entries(spec.components.schemas).map(([n, s]) => schemaSection(n, s));
    main.replaceChildren(element("p", {}, spec.info.description),
      element("h2", {}, "Operations"), ...operations, element("h2", {}, "Schemas"), ...schemas);
  } catch (error) {
    main.replaceChildren(element("p", { class: "error" }, `Cannot load the API description: ${error.message}`));
  }
}

render();
