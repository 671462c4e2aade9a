"""Certificates CRUD (``/api/certificates``): generate, import PEM, update, regenerate, delete; keys stay secret."""

from __future__ import annotations

from typing import Any

from config_fakes import AUTH, Client, client_fixture, runtime_fixture, store_fixture  # noqa: F401
from cryptography import x509
from cryptography.x509.oid import NameOID

from engine.certificates import Subject, generate, matches
from engine.config import ConfigStore

OPTIONS = {
    "commonName": "plc-gateway",
    "countryName": "FR",
    "organizationName": "Plant",
    "keySize": 2048,
    "daysBeforeExpiry": 30,
}


def key_body_lines(pem: str) -> list[str]:
    """The base64 lines of a PEM key: what a leak of it would show."""
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


async def post(client: Client, body: Any) -> tuple[int, Any]:
    response = await client.post("/api/certificates", json=body, headers=AUTH)
    return response.status, await response.json()


async def test_generate_read_update_regenerate_delete(client: Client, store: ConfigStore) -> None:
    status, created = await post(client, {"name": "opcua", "description": "client cert", "options": OPTIONS})
    assert status == 201, created
    assert "privateKey" not in created and "private" not in str(created).lower()
    certificate = x509.load_pem_x509_certificate(created["certificate"].encode())
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "plc-gateway"
    assert certificate.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "FR"
    assert created["expiry"].startswith(certificate.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M"))
    assert created["publicKey"].startswith("-----BEGIN PUBLIC KEY-----")
    # The store keeps the matching key, encrypted; the API never shows it.
    pem, key = store.certificates.certificate_key_pair(created["id"])
    assert matches(pem, key)
    listed = await (await client.get("/api/certificates", headers=AUTH)).json()
    assert [c["id"] for c in listed] == [created["id"]]
    assert all(line not in str(listed) for line in key_body_lines(key))

    url = f"/api/certificates/{created['id']}"
    renamed = await client.put(url, json={"name": "opcua client", "description": "renamed"}, headers=AUTH)
    assert renamed.status == 204
    read = await (await client.get(url, headers=AUTH)).json()
    assert (read["name"], read["description"], read["certificate"]) == (
        "opcua client",
        "renamed",
        created["certificate"],
    )
    regenerated = await client.put(
        url, json={"name": "opcua client", "regenerateCertificate": True, "options": OPTIONS}, headers=AUTH
    )
    assert regenerated.status == 204
    assert (await (await client.get(url, headers=AUTH)).json())["certificate"] != created["certificate"]
    assert store.certificates.certificate_key_pair(created["id"])[1] != key

    assert (await client.delete(url, headers=AUTH)).status == 204
    assert (await client.get(url, headers=AUTH)).status == 404
    assert (await client.delete(url, headers=AUTH)).status == 404


async def test_import_pem_and_the_key_is_encrypted_at_rest(client: Client, store: ConfigStore) -> None:
    pair = generate(Subject(common_name="imported"), days=10)
    status, created = await post(
        client, {"name": "imported", "certificate": pair.certificate, "privateKey": pair.private_key}
    )
    assert status == 201, created
    assert created["certificate"] == pair.certificate and created["publicKey"] == pair.public_key
    assert store.certificates.certificate_key_pair(created["id"]) == (pair.certificate, pair.private_key)
    secret_lines = key_body_lines(pair.private_key)
    for path in store.data_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes().decode("latin-1")
            assert not any(line in content for line in secret_lines), f"private key in plaintext in {path}"
    # A new certificate without a key keeps the stored key only when that key matches it.
    other = generate(Subject(common_name="other"), days=10)
    url = f"/api/certificates/{created['id']}"
    refused = await client.put(url, json={"name": "imported", "certificate": other.certificate}, headers=AUTH)
    assert refused.status == 400 and set((await refused.json())["errors"]) == {"privateKey"}
    same_key = await client.put(
        url, json={"name": "imported", "certificate": pair.certificate, "privateKey": ""}, headers=AUTH
    )
    assert same_key.status == 204


async def test_bad_bodies_name_their_fields(client: Client) -> None:
    pair = generate(Subject(common_name="a"), days=1)
    other = generate(Subject(common_name="b"), days=1)
    cases: list[tuple[Any, set[str]]] = [
        ({"name": "x"}, {"options"}),
        ({"name": "", "options": OPTIONS}, {"name"}),
        ({"name": "x", "options": {**OPTIONS, "keySize": 1024}}, {"options.keySize"}),
        ({"name": "x", "options": {**OPTIONS, "countryName": "France"}}, {"options.countryName"}),
        ({"name": "x", "options": {**OPTIONS, "daysBeforeExpiry": 0}}, {"options.daysBeforeExpiry"}),
        ({"name": "x", "options": {"keySize": 2048}}, {"options.commonName"}),
        ({"name": "x", "certificate": "not a pem", "privateKey": "nope"}, {"certificate", "privateKey"}),
        ({"name": "x", "certificate": pair.certificate}, {"privateKey"}),
        ({"name": "x", "certificate": pair.certificate, "privateKey": other.private_key}, {"privateKey"}),
        ([], {"body"}),
    ]
    for body, fields in cases:
        status, answer = await post(client, body)
        assert status == 400, (body, answer)
        assert set(answer["errors"]) == fields, (body, answer)
        assert all(line not in str(answer) for line in key_body_lines(other.private_key))
    status, _ = await post(client, {"name": "taken", "options": OPTIONS})
    assert status == 201
    status, answer = await post(client, {"name": "taken", "options": OPTIONS})
    assert (status, set(answer["errors"])) == (400, {"name"})
    missing = await client.put("/api/certificates/nope", json={"name": "x"}, headers=AUTH)
    assert missing.status == 404
    assert (await client.get("/api/certificates")).status == 401
