"""The directory calls and agency self-registration through the VDXP door."""

from __future__ import annotations

import pytest

from adapters.vdxp.client import UpdateStatus, VdxpError
from gateway.core.vdxp_door import agency_number
from gateway.web.state import HUB
from tests.gateway.e2e.conftest import COMMUNES, wait_for
from tests.gateway.e2e.packages import document

from .conftest import ClientFactory, Gateway

pytestmark = pytest.mark.rabbitmq

XA = "000.21.31.H53"
HUYEN = "000.00.31.H53"
NEW = "000.77.31.H53"  # a commune the e2e directory does not know


async def test_agency_lists(gateway: Gateway, vdxp_client: ClientFactory) -> None:
    huyen = vdxp_client("huyen")
    await gateway.store.add_alias("H53.31", HUYEN)  # its QĐ 20/2020 code
    await gateway.store.add_alias("31.H53", HUYEN)  # and a legacy spelling

    agencies = {a.code: a for a in await huyen.get_agencies_list()}
    known = {a.organ_id for a in await gateway.store.list_agencies(limit=1000)}
    assert set(agencies) == known - {"000.41.31.H53"}  # the merged commune is gone
    district, commune = agencies[HUYEN], agencies[XA]
    assert district.name == "UBND huyện Bến Cầu" and district.old_code == "31.H53"
    # Numeric ids, stable, and pid names the parent's id.
    assert int(district.id) == agency_number(HUYEN)
    assert commune.pid == district.id
    assert set(district.raw) == {"id", "pid", "code", "name", "mail", "oldCode"}

    [qd20] = await huyen.get_agencies_list_qd20()
    assert (qd20.code, qd20.code102, qd20.name) == ("H53.31", HUYEN, district.name)

    units = {u.code: u for u in await huyen.get_synchronize_unit()}
    assert set(units) == known
    assert units["000.41.31.H53"].deleted and not units[XA].deleted
    assert units[XA].center_code == gateway.settings.hub_organ_id
    assert units["000.00.32.H53"].center_code == "huyen-32"  # the district hub below
    assert units["000.00.00.G22"].center_code == ""  # served upstream
    assert units[XA].is_agency and units[XA].version > 0 and units[XA].modify_date
    assert set(units[XA].raw) == {
        "id", "pid", "code", "name", "mail", "centerCode", "version", "deleted",
        "modifyDate", "isAgency",
    }  # fmt: skip


async def test_register_a_new_agency_then_exchange_as_it_then_unregister(
    gateway: Gateway, vdxp_client: ClientFactory
) -> None:
    xa, huyen = vdxp_client("xa"), vdxp_client("huyen")
    await huyen.register_agency(NEW, "UBND xã Long Thuận", pcode=gateway.settings.hub_organ_id)
    await huyen.register_agency(NEW, "UBND xã Long Thuận")  # again: harmless

    agency = await gateway.store.resolve(NEW)
    assert agency is not None
    assert (agency.host, agency.parent_id, agency.level, agency.state) == (
        "local",
        HUYEN,
        3,
        "active",
    )
    system = await gateway.store.get_system("huyen")
    assert system is not None and system.agencies == (HUYEN, NEW)

    # It may send at once; it receives once the node has bound its inbox (directory watcher).
    doc_id = await huyen.send_edoc(document(NEW, [XA], "n-1"), sender=NEW)
    await gateway.delivered(doc_id)

    async def known_to_router() -> bool:
        return gateway.client.app[HUB].directory.resolve(NEW) is not None

    await wait_for(known_to_router, 20, "the directory watcher to pick up the new agency")
    doc_id = await xa.send_edoc(document(XA, [NEW], "n-2"), sender=XA)
    [delivery] = await gateway.delivered(doc_id)
    assert (delivery.recipient, delivery.route, delivery.state.value) == (NEW, "local", "delivered")
    [item] = await huyen.get_received_edoc_list()
    assert (item.doc_id, item.recipient) == (delivery.delivery_id, NEW)
    await huyen.update_status(item.doc_id, UpdateStatus.DONE)

    await huyen.delete_agency(NEW)
    system = await gateway.store.get_system("huyen")
    assert system is not None and system.agencies == (HUYEN,)
    assert await gateway.store.resolve(NEW) is not None  # the directory keeps it
    with pytest.raises(VdxpError) as refused:
        await huyen.send_edoc(document(NEW, [XA], "n-3"), sender=NEW)
    assert refused.value.code == "receive.sender_not_registered"
    with pytest.raises(VdxpError) as refused:
        await huyen.delete_agency(NEW)
    assert (refused.value.error_code, refused.value.code) == ("-4", "vdxp.agency_not_registered")


@pytest.mark.parametrize(
    ("code", "name", "stable", "error_code"),
    [
        ("000.00.32.H53", "Huyện có trục riêng", "vdxp.agency_hosted_elsewhere", "-3"),
        ("000.00.00.G22", "Văn phòng Chính phủ", "vdxp.agency_hosted_elsewhere", "-3"),
        ("000.41.31.H53", "Xã đã sáp nhập", "vdxp.agency_merged", "-3"),
        (COMMUNES[4], "Xã của hệ thống khác", "vdxp.agency_taken", "-3"),
        ("00.53.W00", "Một trục", "vdxp.bad_parameter", "-5"),
        ("not an id!", "Sai mã", "vdxp.bad_parameter", "-5"),
        (NEW, "", "vdxp.bad_parameter", "-5"),  # a new agency needs its name
    ],
)
async def test_registration_refusals(
    gateway: Gateway,
    vdxp_client: ClientFactory,
    code: str,
    name: str,
    stable: str,
    error_code: str,
) -> None:
    huyen = vdxp_client("huyen")
    with pytest.raises(VdxpError) as refused:
        await huyen.register_agency(code, name)
    assert (refused.value.error_code, refused.value.code) == (error_code, stable)
    system = await gateway.store.get_system("huyen")
    assert system is not None and system.agencies == (HUYEN,)
    assert await gateway.store.resolve(NEW) is None


async def test_register_agency_body_must_be_json(
    gateway: Gateway, vdxp_client: ClientFactory
) -> None:
    huyen = vdxp_client("huyen")
    for body in (b"not json", b"[1, 2]", b'{"code": {"nested": 1}}'):
        with pytest.raises(VdxpError) as refused:
            await huyen.call("/registerAgency", {}, body)
        assert refused.value.code == "vdxp.bad_parameter", body
