"""Persona and product files edited from the dashboard: list, read, check, and save only what validates.

Pure file logic, no show state: :meth:`ConfigFiles.check` validates an edit exactly as the show would load it and
returns every problem with its line and field; :meth:`ConfigFiles.save` refuses an edit with any error (the file on
disk, and so the running show, keep the previous version) and otherwise replaces the file atomically (write a
temporary file beside it, then rename), so a crash mid-save never leaves half a file.
"""

from __future__ import annotations

import ipaddress
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from streamer.config import Persona
from streamer.loading import (
    PRODUCT_SUFFIXES,
    ConfigError,
    ConfigProblem,
    LoadedProduct,
    errors_in,
    format_of,
    merge_products,
    product_files,
    read_persona,
    read_product_text,
    redact_url,
)
from streamer.products.images import ImageLoadError, resolve_image_ref

FileKind = Literal["persona", "product"]
#: An edit larger than this is refused before parsing (a persona or product sheet is a few kB).
MAX_EDIT_BYTES = 256 * 1024


@dataclass(slots=True, frozen=True)
class EditableFile:
    id: str
    """``persona`` or ``product:<file name>``: what the dashboard puts in URLs."""
    kind: FileKind
    path: Path
    editable: bool = True

    @property
    def name(self) -> str:
        return self.path.name

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "name": self.name, "editable": self.editable}


@dataclass(slots=True)
class CheckResult:
    """An edit, validated. ``persona`` or ``products`` is set when it has no errors."""

    file: EditableFile
    problems: list[ConfigProblem]
    persona: Persona | None = None
    products: list[LoadedProduct] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not errors_in(self.problems)

    def problems_json(self) -> list[dict[str, Any]]:
        return [
            {"line": p.line, "field": p.field, "message": p.message, "hint": p.hint, "severity": p.severity}
            for p in self.problems
        ]


class UnknownFile(LookupError):
    pass


class ConfigFiles:
    """The persona file and the product files of a folder (or one product file). A URL feed is not editable here:
    it is edited where it is served."""

    def __init__(self, *, persona_path: str | Path | None, products_source: str) -> None:
        self.persona_path = Path(persona_path) if persona_path is not None else None
        self.products_source = products_source

    def files(self) -> list[EditableFile]:
        out: list[EditableFile] = []
        if self.persona_path is not None:
            out.append(EditableFile("persona", "persona", self.persona_path))
        src = self.products_source
        if src.startswith(("http://", "https://")):
            return out
        path = Path(src)
        if path.is_dir():
            candidates = product_files(path)
        elif path.suffix.lower() in PRODUCT_SUFFIXES:
            candidates = [path]
        else:
            candidates = []
        out.extend(EditableFile(f"product:{p.name}", "product", p) for p in candidates)
        return out

    def get(self, file_id: str) -> EditableFile:
        for f in self.files():
            if f.id == file_id:
                return f
        raise UnknownFile(f"no editable file {file_id!r}")

    def read(self, file_id: str) -> str:
        f = self.get(file_id)
        return f.path.read_text(encoding="utf-8-sig")

    def check(self, file_id: str, text: str, *, others: list[list[LoadedProduct]] | None = None) -> CheckResult:
        """Validate ``text`` as the new content of the file. ``others``: the products of the other product files,
        so an id that another file already uses is reported here."""
        f = self.get(file_id)
        display = str(f.path)
        if len(text.encode("utf-8", "replace")) > MAX_EDIT_BYTES:
            problem = ConfigProblem(display, None, "", f"the edit is larger than {MAX_EDIT_BYTES // 1024} kB", "")
            return CheckResult(f, [problem])
        if f.kind == "persona":
            try:
                persona, warnings = read_persona(f.path, text=text)
            except ConfigError as exc:
                return CheckResult(f, list(exc.problems))
            return CheckResult(f, list(warnings), persona=persona)
        result = read_product_text(text, fmt=format_of(f.name), file=display, base=f.path.parent)
        problems = list(result.problems)
        if not result.products and not errors_in(problems):
            problems.append(ConfigProblem(display, None, "", "no products in this file", "add a product"))
        if others:
            _, dups = merge_products([*others, result.products])
            problems += [p for p in dups if p.file == display]
        folder = Path(self.products_source) if Path(self.products_source).is_dir() else f.path.parent
        for loaded in result.products:
            reason = image_ref_problem(loaded.sheet.image, base=f.path.parent, folder=folder)
            if reason is not None:
                problems.append(
                    ConfigProblem(display, loaded.lines.get("image", loaded.line), "image", reason[0], reason[1])
                )
        problems.sort(key=ConfigProblem.sort_key)
        return CheckResult(f, problems, products=list(result.products))

    def save(self, checked: CheckResult, text: str) -> None:
        """Write an edit that passed :meth:`check` (raises ``ValueError`` for one with errors)."""
        if not checked.ok:
            raise ValueError("an edit with errors is never saved")
        _atomic_write(checked.file.path, text)


def image_ref_problem(ref: str | None, *, base: Path, folder: Path) -> tuple[str, str] | None:
    """(message, hint) when a product picture named from the dashboard points where an edit must not reach, else
    None. A stolen dashboard session must not make the show read files outside the products folder or fetch from
    this machine's own or its private network's addresses (the fetch would run on the show's machine). Sheets
    edited on disk by the operator are not limited: this is the dashboard's rule.

    Names are judged as written (``localhost``, an address literal); a public name is not looked up here (a DNS
    lookup could stall the show's loop)."""
    if not ref or not ref.strip():
        return None
    try:
        kind, target = resolve_image_ref(ref, base)
    except ImageLoadError as exc:
        return exc.reason, exc.hint
    if kind == "file":
        try:
            inside = Path(target).resolve().is_relative_to(folder.resolve())
        except (OSError, RuntimeError):
            inside = False
        if not inside:
            return (
                f"the picture {ref!r} is outside the products folder",
                "from the dashboard, name a picture inside the products folder or a public https:// URL",
            )
        return None
    if kind == "url":
        host = (urlsplit(str(target)).hostname or "").lower().rstrip(".")
        if not host:
            return f"the picture URL {redact_url(ref)!r} has no host", "write a full https:// URL"
        local_name = host == "localhost" or host.endswith((".localhost", ".local", ".internal"))
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if local_name or (address is not None and not address.is_global):
            return (
                f"the picture URL {redact_url(ref)!r} points at this machine or a private network",
                "from the dashboard, use a public https:// URL (or a picture in the products folder)",
            )
    return None


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
