"""Hydra's composition errors (a misspelt key, an unknown option, an override it cannot parse)
as the one line fungiclf-train prints, naming the file or key and what it accepts."""

import dataclasses
import re

from hydra.errors import HydraException, MissingConfigException, OverrideParseException
from omegaconf.errors import OmegaConfBaseException

from fungiclf.data.samples import SPLITS
from fungiclf.data.table import COLUMNS as CSV_COLUMNS
from fungiclf.settings import schema as schemas
from fungiclf.settings.schema import SyntheticSchema
from fungiclf.validation import did_you_mean


def mapping_keys() -> dict[str, tuple[str, ...]]:
    """Mappings with fixed keys that the schemas type as Any (schema.py says why), by their
    key with list indices dropped: Hydra refuses a new key in them as "not in struct",
    naming none."""
    from fungiclf.models.params import BLOCK_KEYS  # the model package imports Keras: only on this error

    return {
        "dataset.split": SPLITS,
        "dataset.columns": tuple(CSV_COLUMNS),
        "model.blocks": BLOCK_KEYS,
        "dataset.synthetic": tuple(f.name for f in dataclasses.fields(SyntheticSchema)),
    }


# Lines of Hydra's message that do not help here: its "+key=value" advice adds a key that no
# schema has (resolve() refuses it), and the search path and object type are internals.
_NOISE = (
    "To append to your config use",
    "object_type=",
    "Config search path",
    "provider=",
    "Set the environment variable HYDRA_FULL_ERROR",
    "reference_type=",
)

# A value that opens a list, a mapping or a sweep function (choice(, range(): its brackets are the
# error, and quoting it would turn it into a string. In any other bare value, ~ ( ) \ $ and friends
# are grammar, and quoting is what the user meant.
_STRUCTURED = re.compile(r"\s*([\[{]|\w+\()")


def composition_error_line(exc: HydraException) -> str:
    """One line for a HydraException raised while composing the job config."""
    text = str(exc)
    if isinstance(exc.__cause__, OmegaConfBaseException):
        text += "\n" + str(exc.__cause__)
    if isinstance(exc, MissingConfigException) and exc.options:
        text = text.split("\n\n")[0]  # the option list follows, one per line, with the schemas in it
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith(_NOISE)]
    message = " ".join(lines)
    if isinstance(exc, OverrideParseException):
        message = f"cannot parse the override '{exc.override}': {message}"
        key, equals, value = exc.override.partition("=")
        if equals and value and '"' not in value and not _STRUCTURED.match(value):
            message += f"; quote the value for Hydra and the shell: '{key}=\"{value}\"'"
    if isinstance(exc, MissingConfigException) and exc.options and exc.missing_cfg_file:
        group, _, wrong = exc.missing_cfg_file.rpartition("/")
        choices = [name for name in exc.options if not name.startswith("base_")]
        message = (
            did_you_mean(wrong, choices, message) + f"; the {group or 'top-level'} options are {', '.join(choices)}"
        )
    if found := re.search(r"Key '([^']+)' not in '(\w+)'\s+full_key: (\S+)", text):
        schema = getattr(schemas, found.group(2), None)
        if dataclasses.is_dataclass(schema):
            keys = sorted(f.name for f in dataclasses.fields(schema))
            parent = found.group(3).rpartition(".")[0]
            message = did_you_mean(found.group(1), keys, message, f"{parent}." if parent else "")
            message += f"; the keys of {schema.__name__} are {', '.join(keys)}"
    elif found := re.search(r"is not in struct\s+full_key: (\S+)\.(\w+)", text):
        mapping = re.sub(r"\[\d+\]", "", found.group(1))
        fixed = mapping_keys()
        if mapping in fixed:
            message = did_you_mean(found.group(2), fixed[mapping], message, f"{found.group(1)}.")
            message += f"; the keys of {mapping} are {', '.join(fixed[mapping])}"
    return message
