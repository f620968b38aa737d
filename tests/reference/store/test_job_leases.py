"""Job leases and compare-and-set in both stores (`reference.store.leases`): one owner at a time,
an expired lease goes to the next claimer, renewal keeps it, release frees it; `replace_if`
writes only over the text it was given; `put_many` writes a run of objects at once."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from reference.store import Kind, ResponseStore

OpenStore = Callable[[], ResponseStore]


def test_a_lease_has_one_owner_until_it_expires_or_is_released(open_backend: OpenStore) -> None:
    store = open_backend()
    assert store.claim_job("response/r1", "a", 30)
    assert not store.claim_job("response/r1", "b", 30)  # a's lease runs
    assert store.claim_job("response/r1", "a", 30)  # its owner renews it
    assert store.expired_jobs() == []
    store.release_job("response/r1", "b")  # not b's: nothing happens
    assert not store.claim_job("response/r1", "b", 30)
    store.release_job("response/r1", "a")
    assert store.claim_job("response/r1", "b", 30)


def test_an_expired_lease_goes_to_the_next_claimer_and_renewal_keeps_one(open_backend: OpenStore) -> None:
    store = open_backend()
    assert store.claim_job("ingest/vs/f1", "dead", 0.2)
    assert store.claim_job("ingest/vs/f2", "alive", 0.2)
    time.sleep(0.1)
    assert store.renew_jobs("alive", 0.5) == ["ingest/vs/f2"]
    time.sleep(0.25)
    assert store.expired_jobs() == ["ingest/vs/f1"]
    assert not store.claim_job("ingest/vs/f2", "other", 30)
    assert store.claim_job("ingest/vs/f1", "other", 30)
    assert store.expired_jobs() == []
    assert store.renew_jobs("dead", 30) == []  # it lost its lease


def test_of_many_concurrent_claims_of_an_expired_lease_exactly_one_wins(open_backend: OpenStore) -> None:
    first = open_backend()
    assert first.claim_job("response/r1", "dead", 0.05)
    time.sleep(0.1)
    stores = [first, *(open_backend() for _ in range(3))]
    with ThreadPoolExecutor(4) as pool:
        won = list(pool.map(lambda n: stores[n].claim_job("response/r1", f"owner{n}", 30), range(4)))
    assert won.count(True) == 1


def test_replace_if_writes_only_over_the_expected_text(open_backend: OpenStore) -> None:
    objects = open_backend().objects
    text = objects.put(Kind.VECTOR_STORE_FILE, {"id": "f1", "status": "in_progress"}, parent="vs1",
                       created_at=1)
    done = objects.replace_if(Kind.VECTOR_STORE_FILE, "f1", text, {"id": "f1", "status": "completed"},
                              parent="vs1")
    assert done == '{"id":"f1","status":"completed"}'
    # A second writer that read the old text loses.
    assert objects.replace_if(Kind.VECTOR_STORE_FILE, "f1", text, {"id": "f1", "status": "cancelled"},
                              parent="vs1") is None
    assert objects.get_text(Kind.VECTOR_STORE_FILE, "f1", parent="vs1") == done
    assert objects.replace_if(Kind.VECTOR_STORE_FILE, "gone", text, "{}", parent="vs1") is None


def test_put_many_writes_adjacent_objects_and_a_replaced_one_keeps_its_place(open_backend: OpenStore) -> None:
    objects = open_backend().objects
    objects.put_many(Kind.CONVERSATION_ITEM, [("i1", '{"id":"i1"}'), ("i2", '{"id":"i2"}')], parent="c1",
                     created_at=1)
    objects.put(Kind.CONVERSATION_ITEM, '{"id":"i3"}', parent="c1", created_at=2)
    objects.put_many(Kind.CONVERSATION_ITEM, [("i1", '{"id":"i1","v":2}')], parent="c1", created_at=3)
    assert objects.list(Kind.CONVERSATION_ITEM, parent="c1") == [{"id": "i1", "v": 2}, {"id": "i2"},
                                                                  {"id": "i3"}]
    assert objects.list(Kind.CONVERSATION_ITEM, parent="c2") == []
