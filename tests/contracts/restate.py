"""Restate the parts of public specifications the contract tests use.

The contract tests validate the sandbox's answers and the OCSF export against
the published specifications, but the project carries only the subset they
need, as its own fixtures in this folder. This script makes those fixtures
from a copy of the public document, so refreshing them when a spec changes
is one command per fixture::

    python tests/contracts/restate.py openai-admin path/to/openapi.yaml
    python tests/contracts/restate.py chatgpt-compliance path/to/openapi.json
    python tests/contracts/restate.py ocsf path/to/ocsf-schema

There is no default input: the document is always named on the command line.
The output is written beside this script (``--output`` names another file).

For an OpenAPI document it keeps the component schemas the tests validate
against and every schema they reach through ``$ref``, and drops what cannot
change a validation result: paths, the ``description``, ``title``,
``example(s)`` and ``x-*`` annotations of schemas. Property names, types,
``required``, ``enum``, ``nullable``, ``format``, ``oneOf``/``anyOf``/
``allOf``, ``additionalProperties`` and ``discriminator`` stay as published.

For OCSF it compiles a checkout of the schema repository with ocsf-lib
(corrected where its compiler departs from the OCSF server, see
``correct_ocsf``) and writes two files from that one compilation: the
compiled schema cut to the export's classes and what they reach, which the
OCSF validator ``connector_core.testing.ocsf`` reads (it ships in the
package, for plugins' tests), and the requirements ``validate_ocsf`` reads.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path
from typing import Any


HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

OPENAPI = {
    "openai-admin": {
        "output": "openai-admin-api.json",
        "document": "OpenAI API OpenAPI specification (openapi.yaml)",
        "url": (
            "https://github.com/openai/openai-openapi/blob/"
            "f85dbe223d40e1a31cba812ab2d755c7e98a92a3/openapi.yaml"
        ),
        "roots": [
            # The sandbox's admin answers (tests/sandbox).
            "ListAuditLogsResponse",
            "ErrorResponse",
            "UsageResponse",
            "UsageCompletionsResult",
            "CostsResult",
            "UserListResponse",
            "ProjectListResponse",
            "ApiKeyList",
            # The event-type enum the normalizer's table is checked against.
            "AuditLogEventType",
        ],
    },
    "chatgpt-compliance": {
        "output": "chatgpt-compliance-api.json",
        "document": (
            "ChatGPT Enterprise Compliance API OpenAPI document "
            "(OpenAI, https://chatgpt.com/admin/api-reference; public copy "
            "rappdw/chatgpt-data api_docs/openapi.json, committed 2025-03-04)"
        ),
        "url": "https://github.com/rappdw/chatgpt-data/blob/main/api_docs/openapi.json",
        "roots": ["GenericList", "WorkspaceUser", "GPT", "Project"],
    },
}

OCSF: dict[str, Any] = {
    # The compiled schema the OCSF validator (connector_core.testing.ocsf)
    # reads; it ships with the package so that plugins' tests have it too.
    "schema_output": ROOT / "connector_core" / "testing" / "ocsf_schema.json",
    # The requirements connector_core.export.validate_ocsf reads.
    "output": "ocsf-classes.json",
    "document": "Open Cybersecurity Schema Framework (OCSF) schema, ocsf/ocsf-schema",
    "url": "https://github.com/ocsf/ocsf-schema/tree/a5cfc68e",
    # The classes the export can produce, the deprecated Account Change it
    # must not, and User Access Management, the other IAM class near them.
    "classes": [
        "authentication",
        "account_change",
        "user_management",
        "entity_management",
        "user_access",
        "group_management",
        "api_activity",
        "file_hosting",
    ],
    # The objects validate_ocsf checks (the attributes of the export's events).
    "requirement_objects": [
        "metadata",
        "product",
        "user",
        "actor",
        "api",
        "network_endpoint",
        "file",
        "managed_entity",
        "group",
        "service",
        "http_request",
        "ldap_person",
    ],
    # Of each attribute, what decides validity (the rest is description).
    "attribute_keys": [
        "caption",
        "type",
        "object_type",
        "requirement",
        "is_array",
        "enum",
        "profile",
        "sibling",
        "@deprecated",
    ],
    "entry_keys": [
        "caption",
        "name",
        "uid",
        "category",
        "extends",
        "profiles",
        "constraints",
        "@deprecated",
    ],
    "type_keys": ["caption", "type", "regex", "range", "max_len"],
}
# Activities every class has: 0 Unknown and 99 Other (validate_ocsf knows).
_UNIVERSAL_ACTIVITIES = {"0", "99"}

# Keywords whose value is a map of name -> schema (the names are data).
_SCHEMA_MAPS = {"properties", "patternProperties", "$defs", "definitions"}
# Keywords whose value is one schema (or, for old-style items, a list).
_SCHEMA_ONE = {
    "items",
    "additionalProperties",
    "additionalItems",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
}
_SCHEMA_LISTS = {"allOf", "anyOf", "oneOf", "prefixItems"}
# Annotations: no effect on whether an instance is valid.
_ANNOTATIONS = {"description", "title", "example", "examples", "externalDocs"}
_REF = re.compile(r"^#/components/schemas/([^/]+)$")


def strip_schema(schema: Any) -> Any:
    """*schema* without its annotations, walking only schema positions."""
    if isinstance(schema, list):
        return [strip_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return copy.deepcopy(schema)
    kept: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _ANNOTATIONS or key.startswith("x-"):
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            kept[key] = {name: strip_schema(s) for name, s in value.items()}
        elif key in _SCHEMA_ONE or key in _SCHEMA_LISTS:
            kept[key] = strip_schema(value)
        else:
            kept[key] = copy.deepcopy(value)
    return kept


def references(node: Any) -> set[str]:
    """The component schemas *node* names through ``$ref`` (or a mapping)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                match = _REF.match(value)
                if match is None:
                    msg = f"unsupported $ref {value!r}: only component schemas"
                    raise SystemExit(msg)
                found.add(match.group(1))
            elif key == "mapping" and isinstance(value, dict):
                found |= {
                    m.group(1)
                    for v in value.values()
                    if isinstance(v, str) and (m := _REF.match(v))
                }
            else:
                found |= references(value)
    elif isinstance(node, list):
        for value in node:
            found |= references(value)
    return found


def closure(schemas: dict[str, Any], roots: list[str]) -> list[str]:
    """*roots* and every schema reachable from them, sorted."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if name not in schemas:
            msg = f"schema {name!r} is not in the document's components/schemas"
            raise SystemExit(msg)
        seen.add(name)
        todo.extend(references(schemas[name]) - seen)
    return sorted(seen)


def load(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix in {".yaml", ".yml"}:
        import yaml  # noqa: PLC0415 - only this input needs it

        return yaml.safe_load(text)
    return json.loads(text)


def restate_openapi(kind: str, document: dict[str, Any], url: str) -> dict[str, Any]:
    spec = OPENAPI[kind]
    schemas = document["components"]["schemas"]
    names = closure(schemas, spec["roots"])
    return {
        "source": {
            "document": spec["document"],
            "version": str(document["info"]["version"]),
            "url": url,
            "kept": (
                f"components/schemas {', '.join(spec['roots'])} and the "
                "schemas they reach through $ref, as published; annotations "
                "(description, title, example(s), x-*) and paths dropped: "
                "they cannot change whether an answer validates"
            ),
        },
        "openapi": document["openapi"],
        "info": {
            "title": document["info"]["title"],
            "version": document["info"]["version"],
        },
        "components": {"schemas": {n: strip_schema(schemas[n]) for n in names}},
    }


def compile_ocsf(checkout: Path) -> dict[str, Any]:
    """The schema in *checkout* (an ocsf/ocsf-schema working copy), compiled.

    ocsf-lib's compiler (the OCSF project's Python one) resolves ``extends``,
    ``$include``, profiles and the dictionary into the shape of the OCSF
    server's ``export/schema``. Extensions are left out: the export uses the
    core schema only.
    """
    try:
        from ocsf.compile.compiler import Compilation  # noqa: PLC0415
        from ocsf.compile.options import CompilationOptions  # noqa: PLC0415
        from ocsf.repository import read_repo  # noqa: PLC0415
        from ocsf.schema import to_dict  # noqa: PLC0415
    except ImportError:
        msg = "restating OCSF needs ocsf-lib: pip install --group tests"
        raise SystemExit(msg) from None
    extensions = checkout / "extensions"
    options = CompilationOptions(
        ignore_extensions=sorted(p.name for p in extensions.iterdir() if p.is_dir())
        if extensions.is_dir()
        else None
    )
    repo = read_repo(str(checkout), preserve_raw_data=False)
    compiled: dict[str, Any] = to_dict(Compilation(repo, options).build())
    return correct_ocsf(compiled, checkout)


def _definitions(checkout: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Every class and object file of the core schema, as written."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for kind, folder in (("classes", "events"), ("objects", "objects")):
        for path in sorted((checkout / folder).rglob("*.json")):
            raw = json.loads(path.read_text(encoding="utf-8"))
            found[kind, raw.get("name") or path.stem] = raw
    return found


def correct_ocsf(compiled: dict[str, Any], checkout: Path) -> dict[str, Any]:
    """Undo where ocsf-lib 0.10.4's compiler departs from the OCSF server.

    Found by compiling the 1.8.0 release and comparing it with the schema
    the OCSF project published for it (``ocsf-json-schema`` packages that
    copy); after these three corrections the classes and objects kept here
    are the same in both:

    * an attribute holding an object is typed ``object_t`` with its
      ``object_type`` (the compiler's ``set_object_types`` step never runs);
    * ``constraints`` are the nearest definition's own along ``extends``
      (the compiler lets the base's win, so every endpoint, user and file
      got ``_entity``'s "name or uid");
    * an attribute a class or object declares with ``"profile": null`` is
      its own, not the profile's (the compiler tags e.g. API Activity's
      required ``actor`` as the ``host`` profile's, which would leave it
      out of the class when that profile is not declared).
    """
    written = _definitions(checkout)
    types = compiled["types"]

    def lineage(kind: str, name: str | None) -> list[dict[str, Any]]:
        chain: list[dict[str, Any]] = []
        while name is not None and (kind, name) in written:
            definition = written[kind, name]
            if any(d is definition for d in chain):
                break
            chain.append(definition)
            name = definition.get("extends")
        return chain

    for kind in ("classes", "objects"):
        for name, entry in compiled[kind].items():
            chain = lineage(kind, name)
            stated = next((d for d in chain if "constraints" in d), None)
            if stated is not None:
                entry["constraints"] = stated["constraints"] or None
            own = {
                attribute
                for d in chain
                for attribute, spec in (d.get("attributes") or {}).items()
                if isinstance(spec, dict)
                and "profile" in spec
                and spec["profile"] is None
            }
            for attribute, spec in entry["attributes"].items():
                if attribute in own:
                    spec["profile"] = None
                if (
                    spec.get("type") not in types
                    and spec.get("type") in compiled["objects"]
                ):
                    spec["object_type"] = spec["type"]
                    spec["type"] = "object_t"
    return compiled


def _reachable(compiled: dict[str, Any], classes: list[str]) -> list[str]:
    """The objects the *classes* hold, directly or through other objects."""
    seen: set[str] = set()
    todo = [compiled["classes"][name] for name in classes]
    while todo:
        entry = todo.pop()
        for spec in entry["attributes"].values():
            name = spec.get("object_type")
            if spec.get("type") == "object_t" and name not in seen:
                seen.add(name)
                todo.append(compiled["objects"][name])
    return sorted(seen)


def _ocsf_source(url: str, version: str, kept: str) -> dict[str, Any]:
    return {"document": OCSF["document"], "version": version, "url": url, "kept": kept}


def restate_ocsf_schema(compiled: dict[str, Any], url: str) -> dict[str, Any]:
    """The compiled schema cut to the export's classes and what they reach."""

    def pick(entry: dict[str, Any], keys: list[str]) -> dict[str, Any]:
        return {k: copy.deepcopy(entry[k]) for k in keys if entry.get(k) is not None}

    def attribute(spec: dict[str, Any]) -> dict[str, Any]:
        kept = pick(spec, OCSF["attribute_keys"])
        if "enum" in kept:
            kept["enum"] = {
                key: {"caption": item.get("caption")}
                for key, item in kept["enum"].items()
            }
        return kept

    def entry(spec: dict[str, Any]) -> dict[str, Any]:
        kept = pick(spec, OCSF["entry_keys"])
        if "profiles" in kept:  # a set in the compiler: sorted, for stable diffs
            kept["profiles"] = sorted(kept["profiles"])
        kept["attributes"] = {
            name: attribute(value) for name, value in sorted(spec["attributes"].items())
        }
        return kept

    try:
        from importlib.metadata import version as installed  # noqa: PLC0415

        compiler = f"ocsf-lib {installed('ocsf-lib')}"
    except ImportError:  # pragma: no cover - compile_ocsf needed it already
        compiler = "ocsf-lib"
    source = _ocsf_source(
        url,
        compiled["version"],
        (
            f"the classes {', '.join(OCSF['classes'])} and every object they "
            "reach, with all profiles' attributes, compiled from the core "
            f"schema (no extensions) by {compiler} with the corrections of "
            "tests/contracts/restate.py (correct_ocsf); of each attribute what "
            "decides validity (type, object type, requirement, array, enum ids "
            "and captions, profile, sibling, deprecation), of the types their "
            "primitive, pattern, range and length; descriptions dropped"
        ),
    )
    return {
        "source": source,
        "version": compiled["version"],
        "types": {
            name: pick(spec, OCSF["type_keys"])
            for name, spec in sorted(compiled["types"].items())
        },
        "classes": {name: entry(compiled["classes"][name]) for name in OCSF["classes"]},
        "objects": {
            name: entry(compiled["objects"][name])
            for name in _reachable(compiled, OCSF["classes"])
        },
    }


def restate_ocsf_requirements(compiled: dict[str, Any], url: str) -> dict[str, Any]:
    """What ``validate_ocsf`` reads, from the same compiled schema."""
    categories = {
        name: spec.get("uid") for name, spec in compiled.get("categories", {}).items()
    }

    def required(entry: dict[str, Any]) -> list[str]:
        # Profiles' attributes are left out: an event declares its profiles.
        return sorted(
            name
            for name, spec in entry["attributes"].items()
            if spec.get("requirement") == "required" and not spec.get("profile")
        )

    classes = {}
    for name in OCSF["classes"]:
        entry = compiled["classes"][name]
        activities = entry["attributes"]["activity_id"].get("enum") or {}
        classes[name] = {
            "caption": entry["caption"],
            "class_uid": entry["uid"],
            "category_uid": categories.get(entry.get("category")),
            "deprecated": entry.get("@deprecated"),
            "constraints": entry.get("constraints") or None,
            "activity_id": {
                key: item["caption"]
                for key, item in sorted(activities.items(), key=lambda i: int(i[0]))
                if key not in _UNIVERSAL_ACTIVITIES
            },
            "required": required(entry),
        }
    objects = {
        name: {
            "constraints": compiled["objects"][name].get("constraints") or None,
            "required": required(compiled["objects"][name]),
        }
        for name in OCSF["requirement_objects"]
    }
    source = _ocsf_source(
        url,
        compiled["version"],
        (
            "the classes the export can produce (and the deprecated Account "
            "Change it must not) and the objects their attributes hold; of "
            "each, the uid, caption, category, activities, deprecation, "
            "required attributes and constraints, from the same compiled "
            "schema as connector_core/testing/ocsf_schema.json, profiles left "
            "out. Recommended and optional attributes are dropped: the "
            "validator does not check them"
        ),
    )
    return {"source": source, "classes": classes, "objects": objects}


def compare_ocsf(compiled: dict[str, Any], version: str) -> list[str]:
    """Where *compiled* differs from the schema ``ocsf-json-schema`` packages.

    That copy was compiled by the OCSF project; compiling the same release
    (``--compare-packaged 1.8.0`` on a checkout of tag 1.8.0) shows whether
    ``correct_ocsf`` still makes ocsf-lib's output agree with it, for the
    classes kept here and every object they reach. Extensions are left out
    here and not there, so attributes and enum values an extension adds are
    not compared.
    """
    from ocsf_json_schema import get_ocsf_schema  # noqa: PLC0415

    published = get_ocsf_schema(version)
    classes = [name for name in OCSF["classes"] if name in compiled["classes"]]
    found: list[str] = []
    for group, names in (
        ("classes", classes),
        ("objects", _reachable(compiled, classes)),
    ):
        for name in names:
            mine, theirs = compiled[group][name], published[group].get(name)
            if theirs is None:
                found.append(f"{group}.{name}: not in the published {version}")
                continue
            if (mine.get("constraints") or None) != (theirs.get("constraints") or None):
                found.append(f"{group}.{name}: constraints differ")
            for attribute in set(mine["attributes"]) & set(theirs["attributes"]):
                a, b = mine["attributes"][attribute], theirs["attributes"][attribute]
                profiles = [a["profile"]] if a.get("profile") else []
                for what, left, right in (
                    ("requirement", a.get("requirement"), b.get("requirement")),
                    ("profiles", profiles, sorted(b.get("profiles") or [])),
                    (
                        "type",
                        a.get("object_type") or a.get("type"),
                        b.get("object_type") or b.get("type"),
                    ),
                    ("array", bool(a.get("is_array")), bool(b.get("is_array"))),
                ):
                    if left != right:
                        found.append(f"{group}.{name}.{attribute}: {what} differs")
    return found


def write(fixture: dict[str, Any], target: Path) -> None:
    target.write_text(
        json.dumps(fixture, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(f"{target}: {target.stat().st_size} bytes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("contract", choices=[*OPENAPI, "ocsf"])
    parser.add_argument(
        "document",
        type=Path,
        help="a copy of the public document (for ocsf: an ocsf-schema checkout)",
    )
    parser.add_argument(
        "--url", help="where the copy was taken from, if not the cited one"
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="default: beside this script (for ocsf: the compiled schema's file)",
    )
    parser.add_argument(
        "--compare-packaged",
        metavar="VERSION",
        help="ocsf: compare with ocsf-json-schema's copy of VERSION; write nothing",
    )
    args = parser.parse_args(argv)

    if args.contract == "ocsf" and args.compare_packaged:
        differences = compare_ocsf(compile_ocsf(args.document), args.compare_packaged)
        print("\n".join(differences) or "no difference")
        return 1 if differences else 0
    if args.contract == "ocsf":
        compiled = compile_ocsf(args.document)
        url = args.url or OCSF["url"]
        write(restate_ocsf_schema(compiled, url), args.output or OCSF["schema_output"])
        write(restate_ocsf_requirements(compiled, url), HERE / OCSF["output"])
        return 0
    spec = OPENAPI[args.contract]
    document = load(args.document)
    fixture = restate_openapi(args.contract, document, args.url or spec["url"])
    write(fixture, args.output or HERE / spec["output"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
