"""Aliases through qdrant-client: create, switch atomically, rename,
delete, list, and use an alias wherever a collection name goes."""

from __future__ import annotations

import pytest
from qdrant_client import models
from qdrant_client.http.exceptions import UnexpectedResponse


def make(client, name, marker):
    client.create_collection(name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    client.upsert(name, [models.PointStruct(id=1, vector=[1, 0], payload={"v": marker})], wait=True)


def test_alias_lifecycle(client, collection_name):
    blue, green = f"{collection_name}_blue", f"{collection_name}_green"
    alias = f"{collection_name}_live"
    make(client, blue, "blue")
    make(client, green, "green")
    try:
        client.update_collection_aliases(change_aliases_operations=[
            models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=blue, alias_name=alias))])
        assert client.retrieve(alias, [1])[0].payload == {"v": "blue"}
        assert client.collection_exists(alias)
        hits = client.query_points(alias, query=[1, 0]).points
        assert hits[0].payload == {"v": "blue"}
        # Writes through the alias reach the collection.
        client.upsert(alias, [models.PointStruct(id=2, vector=[0, 1])], wait=True)
        assert client.count(blue).count == 2

        # Blue/green switch in one request.
        client.update_collection_aliases(change_aliases_operations=[
            models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias)),
            models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=green, alias_name=alias)),
        ])
        assert client.retrieve(alias, [1])[0].payload == {"v": "green"}
        listed = client.get_collection_aliases(green).aliases
        assert [(a.alias_name, a.collection_name) for a in listed] == [(alias, green)]
        assert client.get_collection_aliases(blue).aliases == []

        renamed = alias + "_2"
        client.update_collection_aliases(change_aliases_operations=[
            models.RenameAliasOperation(rename_alias=models.RenameAlias(old_alias_name=alias, new_alias_name=renamed))])
        names = {(a.alias_name, a.collection_name) for a in client.get_aliases().aliases}
        assert (renamed, green) in names and all(a != alias for a, _ in names)

        # A failing action leaves every earlier one of the request undone.
        with pytest.raises(UnexpectedResponse) as e:
            client.update_collection_aliases(change_aliases_operations=[
                models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=renamed)),
                models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name="missing", alias_name="x"))])
        assert e.value.status_code == 404
        assert client.retrieve(renamed, [1])[0].payload == {"v": "green"}

        # Deleting the collection drops its aliases.
        client.delete_collection(green)
        with pytest.raises(UnexpectedResponse) as e:
            client.retrieve(renamed, [1])
        assert e.value.status_code == 404
        assert all(a != renamed for a, _ in {(a.alias_name, a.collection_name) for a in client.get_aliases().aliases})
    finally:
        for n in (blue, green):
            try:
                client.delete_collection(n)
            except Exception:
                pass


def test_alias_name_conflicts(client, collection_name):
    make(client, collection_name, "a")
    with pytest.raises(UnexpectedResponse) as e:
        client.update_collection_aliases(change_aliases_operations=[
            models.CreateAliasOperation(create_alias=models.CreateAlias(
                collection_name=collection_name, alias_name=collection_name))])
    assert e.value.status_code == 409
    alias = collection_name + "_alias"
    client.update_collection_aliases(change_aliases_operations=[
        models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=collection_name, alias_name=alias))])
    with pytest.raises(UnexpectedResponse) as e:
        client.create_collection(alias, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    assert e.value.status_code == 409
    with pytest.raises(UnexpectedResponse) as e:
        client.update_collection_aliases(change_aliases_operations=[
            models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name="nope"))])
    assert e.value.status_code == 404
