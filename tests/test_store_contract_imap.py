"""
The storage contract for what IMAP needs, against every implementation (the
C{store} fixture in conftest.py): UIDVALIDITY and UIDNEXT, reads by UID and
by sequence number, flag writes and expunge.
"""

from __future__ import annotations

import pytest
import pytest_twisted

from tempmail.flags import FlagMode, InvalidFlag, apply_flags, normalise_flags
from tempmail.interfaces import IMailStore
from tests.support import incoming, open_grant

BOX = "imap@x.test"


async def fill(store: IMailStore, count: int) -> list[int]:
    return [(await store.deliver(incoming(BOX, subject=f"m{n}")))[0].uid for n in range(count)]


@pytest_twisted.ensureDeferred
async def test_opening_a_mailbox_fixes_its_uid_validity(store: IMailStore) -> None:
    fresh = await store.open_mailbox("new@x.test")
    assert (fresh.uid_next, fresh.exists, fresh.unseen) == (1, 0, 0)
    await store.deliver(incoming("new@x.test"))
    after = await store.open_mailbox("new@x.test")
    assert after.uid_validity == fresh.uid_validity
    assert (after.uid_next, after.exists, after.unseen) == (2, 1, 1)


@pytest_twisted.ensureDeferred
async def test_reads_by_uid_and_by_sequence(store: IMailStore) -> None:
    await fill(store, 5)
    grant = open_grant(BOX)
    (gone,) = await store.messages_by_uid(BOX, 2, 2)
    await store.delete_message(grant, gone.id)
    assert await store.list_uids(BOX) == [1, 3, 4, 5]
    assert [s.uid for s in await store.messages_by_uid(BOX, 2, 4)] == [3, 4]
    assert [s.uid for s in await store.messages_by_uid(BOX, 4, None)] == [4, 5]
    assert [s.subject for s in await store.messages_by_sequence(BOX, 2, 3)] == ["m2", "m3"]
    assert [s.uid for s in await store.messages_by_sequence(BOX, 3, None)] == [4, 5]
    assert await store.messages_by_sequence(BOX, 9, None) == []
    assert await store.messages_by_uid("nobody@x.test", 1, None) == []
    state = await store.open_mailbox(BOX)
    assert (state.uid_next, state.exists) == (6, 4)


@pytest_twisted.ensureDeferred
async def test_flag_writes(store: IMailStore) -> None:
    uids = await fill(store, 3)
    grant = open_grant(BOX)
    added = await store.store_flags(
        grant, uids[:2], frozenset({"\\Flagged", "$Label1"}), FlagMode.ADD
    )
    assert [(u.summary.uid, u.summary.flags, u.changed) for u in added] == [
        (1, ("$Label1", "\\Flagged"), True),
        (2, ("$Label1", "\\Flagged"), True),
    ]
    seen = await store.store_flags(grant, [1, 3, 99], frozenset({"\\Seen"}), FlagMode.ADD)
    assert [(u.summary.uid, u.summary.seen, u.became_seen) for u in seen] == [
        (1, True, True),
        (3, True, True),
    ]
    replaced = await store.store_flags(grant, [1], frozenset({"\\Answered"}), FlagMode.REPLACE)
    assert [(u.summary.seen, u.summary.flags) for u in replaced] == [(False, ("\\Answered",))]
    removed = await store.store_flags(grant, [2], frozenset({"$Label1"}), FlagMode.REMOVE)
    assert [u.summary.flags for u in removed] == [("\\Flagged",)]
    unchanged = await store.store_flags(grant, [2], frozenset({"\\Flagged"}), FlagMode.ADD)
    assert [u.changed for u in unchanged] == [False]
    # What was written is what every read sees.
    listed = {s.uid: (s.seen, s.flags) for s in (await store.list_messages(BOX, 10)).summaries}
    assert listed == {1: (False, ("\\Answered",)), 2: (False, ("\\Flagged",)), 3: (True, ())}
    (copy,) = await store.messages_by_uid(BOX, 2, 2)
    (message,) = await store.get_messages([copy.id])
    assert message.summary.flags == ("\\Flagged",)
    assert (await store.open_mailbox(BOX)).unseen == 2


@pytest_twisted.ensureDeferred
async def test_expunge_removes_what_is_flagged_deleted(store: IMailStore) -> None:
    await fill(store, 4)
    grant = open_grant(BOX)
    await store.store_flags(grant, [1, 2, 4], frozenset({"\\Deleted"}), FlagMode.ADD)
    only_two = await store.expunge(grant, [2, 3])
    assert [s.uid for s in only_two] == [2]
    rest = await store.expunge(grant)
    assert [s.uid for s in rest] == [1, 4]
    assert await store.list_uids(BOX) == [3]
    assert await store.expunge(grant) == []
    assert (await store.open_mailbox(BOX)).uid_next == 5


def test_flags_are_spelt_one_way() -> None:
    assert normalise_flags(["\\SEEN", "\\flagged", "Work"]) == {"\\Seen", "\\Flagged", "Work"}
    for bad in ("\\Recent", "\\Unknown", "two words", "a(b", ""):
        with pytest.raises(InvalidFlag):
            normalise_flags([bad])
    current = frozenset({"\\Seen", "a"})
    assert apply_flags(current, frozenset({"b"}), FlagMode.ADD) == {"\\Seen", "a", "b"}
    assert apply_flags(current, frozenset({"a"}), FlagMode.REMOVE) == {"\\Seen"}
    assert apply_flags(current, frozenset({"b"}), FlagMode.REPLACE) == {"b"}


@pytest_twisted.ensureDeferred
async def test_raws_by_id(store: IMailStore) -> None:
    await fill(store, 3)
    summaries = await store.messages_by_uid(BOX, 1, None)
    ids = [s.id for s in summaries]
    raws = await store.raws_by_id([ids[2], "no-such-id", ids[0]])
    assert raws == {ids[2]: await store.get_raw(ids[2]), ids[0]: await store.get_raw(ids[0])}
    assert await store.raws_by_id([]) == {}
