"""The output contract's schemas (lib/kubectl_usercert/output/schemas/), checked by the standard `jsonschema`
package as anyone's validator would check them: each schema names itself with an `$id`, so a `$ref`
between them (`UserCertificate.json`) resolves against it through a registry holding them all, with
no network; formats (date-time) are asserted, not just noted."""

import json
from functools import lru_cache
from pathlib import Path

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

SCHEMAS = Path(__file__).resolve().parent.parent / "lib" / "kubectl_usercert" / "output" / "schemas"


def load(name):
    return json.loads((SCHEMAS / name).read_text())


@lru_cache(maxsize=None)
def registry():
    """Every schema under its $id; a $ref to anything else is unresolvable (nothing is fetched)."""
    resources = [Resource.from_contents(load(path.name)) for path in sorted(SCHEMAS.glob("*.json"))]
    return Registry().with_resources((resource.id(), resource) for resource in resources)


def validator(kind):
    return Draft202012Validator(
        load(f"{kind}.json"), registry=registry(), format_checker=FormatChecker()
    )


def problems(obj):
    """Every way `obj` breaks the schema of its kind, as 'PATH: what' lines (none: it conforms)."""
    found = validator(obj["kind"]).iter_errors(obj)
    return [f"$.{'.'.join(map(str, error.absolute_path))}: {error.message}" for error in found]


def check(obj):
    """Assert `obj` conforms to the schema of its kind."""
    found = problems(obj)
    assert not found, "\n".join(found)
