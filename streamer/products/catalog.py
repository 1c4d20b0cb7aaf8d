"""The live product catalog: product sheets from a folder, a file or a URL, re-read while the show runs.

Rules that keep an always-on show selling:

* a re-read that fails keeps what was good before: a file with a syntax error (or that is empty, or unreadable)
  keeps its last good products; a product that stops validating keeps its last good version (matched by id);
  a server error or timeout keeps the last good HTTP catalog. The problems are recorded and logged once;
* a file deleted from the folder removes its products (deleting is deliberate; a broken edit is not);
* ``version`` goes up only when the products the show would use changed (a new price, a new product, a new order);
* refreshing is cheap when nothing changed: files are compared by size/mtime/inode (contents are hashed only
  for files modified in the last seconds, whose mtime may not have ticked yet), URLs are fetched with
  ``If-None-Match`` / ``If-Modified-Since`` when the server gave an ETag / Last-Modified.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from streamer.config import ProductSheet
from streamer.loading import (
    MAX_FILE_BYTES,
    PRODUCT_SUFFIXES,
    ConfigProblem,
    LoadedProduct,
    ProductFileResult,
    decode_text,
    fmt_for_http,
    format_of,
    merge_products,
    product_files,
    read_product_text,
    redact_url,
)
from streamer.money import SUPPORTED_CURRENCIES
from streamer.products.images import ImageLoadError, placeholder_image, read_body_capped, read_image_async

log = logging.getLogger(__name__)

#: A file whose mtime is this close to the last look may have changed again within the same mtime tick.
_RACY_S = 2.0


@dataclass(slots=True, frozen=True)
class CatalogUpdate:
    """What one refresh found. ``changed``: the product list differs from before (``version`` was bumped)."""

    changed: bool
    version: int
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    modified: tuple[str, ...] = ()
    problems: tuple[ConfigProblem, ...] = ()
    kept_stale: tuple[str, ...] = ()
    """Ids whose last good version was kept because the new one has errors."""

    @property
    def has_errors(self) -> bool:
        return any(p.is_error for p in self.problems)


@dataclass(slots=True)
class _SourceState:
    """The last read of one file or URL."""

    signature: tuple[Any, ...] | None = None
    digest: str = ""
    read_at: float = 0.0
    products: list[LoadedProduct] = field(default_factory=list)
    """The products this source contributes now (last good versions included)."""
    problems: list[ConfigProblem] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    etag: str | None = None
    last_modified: str | None = None


def _merge_with_previous(
    result: ProductFileResult, previous: _SourceState | None
) -> tuple[list[LoadedProduct], list[ConfigProblem], list[str]]:
    """Products to use from a fresh read: its good products, plus last good versions for what broke."""
    old = previous.products if previous is not None else []
    problems = list(result.problems)
    if result.fatal:
        if old:
            problems.append(
                ConfigProblem(
                    result.file,
                    None,
                    "",
                    f"keeping the {len(old)} product(s) from the last good read of this file until it is fixed",
                    "",
                    "warning",
                )
            )
        return list(old), problems, [p.sheet.id for p in old]
    by_index: dict[float, LoadedProduct] = {float(p.index): p for p in result.products}
    fresh_ids = {p.sheet.id for p in result.products}
    old_by_id = {p.sheet.id: p for p in old}
    stale: list[str] = []
    for index, raw_id in result.failed:
        if raw_id is not None and raw_id in old_by_id and raw_id not in fresh_ids:
            by_index[float(index)] = old_by_id[raw_id]
            stale.append(raw_id)
            problems.append(
                ConfigProblem(
                    result.file,
                    None,
                    "",
                    f"product {raw_id!r} has errors; keeping its last good version until it is fixed",
                    "",
                    "warning",
                )
            )
    return [by_index[k] for k in sorted(by_index)], problems, stale


class ProductCatalog:
    """Products from ``source``: a folder (every ``*.yaml``, ``*.yml``, ``*.json``, ``*.csv`` in it, by name),
    one file, or an ``http(s)://`` URL serving JSON, YAML or CSV (by Content-Type, else by the URL's ending).
    Product sheets, Shopify ``products.json`` and Shopify CSV exports are all read (see
    :func:`streamer.loading.read_product_text`); ``default_currency`` is the currency of every product that names
    none (Shopify feeds usually do not), USD unless given.

    Call :meth:`refresh` (or run :meth:`run`) to read; until then the catalog is empty. ``products``, ``get`` and
    ``version`` describe the last result; ``problems`` lists everything wrong with the sources as last seen.
    Use as ``async with ProductCatalog(...) as catalog:`` or call :meth:`aclose` (closes the HTTP session).
    """

    def __init__(
        self,
        source: str | os.PathLike[str],
        *,
        refresh_s: float = 10.0,
        http_timeout_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        session: Any = None,
        image_cache_size: int = 64,
        default_currency: str = "USD",
    ) -> None:
        if default_currency not in SUPPORTED_CURRENCIES:
            known = ", ".join(sorted(SUPPORTED_CURRENCIES))
            raise ValueError(f"default_currency {default_currency!r} is not supported; use one of {known}")
        self.default_currency = default_currency
        self.source = str(source)
        self.refresh_s = float(refresh_s)
        self.http_timeout_s = float(http_timeout_s)
        self._clock = clock
        self._sleep = sleep
        self._session = session
        self._own_session = session is None
        self._is_url = self.source.startswith(("http://", "https://"))
        self._states: dict[str, _SourceState] = {}
        self._products: list[LoadedProduct] = []
        self._by_id: dict[str, LoadedProduct] = {}
        self._problems: list[ConfigProblem] = []
        self._version = 0
        self._lock = asyncio.Lock()
        self._logged: set[str] = set()
        self._images: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._image_cache_size = image_cache_size
        self._image_problems: dict[str, ConfigProblem] = {}
        self._closed = False

    # ---- reading the catalog ----------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The source as it may be shown (URLs redacted)."""
        return redact_url(self.source)

    @property
    def products(self) -> list[ProductSheet]:
        return [p.sheet for p in self._products]

    @property
    def loaded(self) -> list[LoadedProduct]:
        """Products with their file, line and image base."""
        return list(self._products)

    @property
    def ids(self) -> list[str]:
        return [p.sheet.id for p in self._products]

    @property
    def version(self) -> int:
        return self._version

    @property
    def problems(self) -> list[ConfigProblem]:
        return list(self._problems)

    def get(self, product_id: str) -> ProductSheet | None:
        hit = self._by_id.get(product_id)
        return hit.sheet if hit is not None else None

    def source_of(self, product_id: str) -> LoadedProduct | None:
        return self._by_id.get(product_id)

    def __len__(self) -> int:
        return len(self._products)

    # ---- refreshing ------------------------------------------------------------------------------------------

    async def refresh(self) -> CatalogUpdate:
        """Re-read the source and return what changed. Never raises for bad input or network trouble."""
        async with self._lock:
            if self._is_url:
                states = {self.source: await self._refresh_url(self._states.get(self.source))}
            else:
                states = await asyncio.to_thread(self._refresh_files, dict(self._states))
            return self._apply(states)

    def _apply(self, states: dict[str, _SourceState]) -> CatalogUpdate:
        merged, dup_problems = merge_products([s.products for s in states.values()])
        problems = [p for s in states.values() for p in s.problems] + dup_problems
        problems.sort(key=ConfigProblem.sort_key)
        old = {p.sheet.id: p.sheet for p in self._products}
        new = {p.sheet.id: p.sheet for p in merged}
        added = tuple(i for i in new if i not in old)
        removed = tuple(i for i in old if i not in new)
        modified = tuple(i for i in new if i in old and new[i] != old[i])
        changed = bool(added or removed or modified) or list(old) != list(new)
        self._states = states
        self._products = merged
        self._by_id = {p.sheet.id: p for p in merged}
        self._problems = problems
        if changed:
            self._version += 1
            self._images.clear()
            log.info(
                "products from %s: %d (version %d; added %s, removed %s, changed %s)",
                self.name,
                len(merged),
                self._version,
                list(added),
                list(removed),
                list(modified),
            )
        self._log_new_problems(problems)
        stale = tuple(i for s in states.values() for i in s.stale)
        return CatalogUpdate(changed, self._version, added, removed, modified, tuple(problems), stale)

    def _log_new_problems(self, problems: Sequence[ConfigProblem]) -> None:
        # A broken file is re-read every few seconds; say so once, not on every refresh.
        current = {str(p) for p in problems}
        for p in problems:
            text = str(p)
            if text not in self._logged:
                (log.error if p.is_error else log.warning)("%s", text)
        self._logged = current

    # files -------------------------------------------------------------------------------------------------------

    def _refresh_files(self, previous: dict[str, _SourceState]) -> dict[str, _SourceState]:
        """Runs in a worker thread: stat, re-read what changed, return the new per-file states."""
        root = Path(self.source)
        try:
            if root.is_dir():
                paths = [(str(root / p.name), p) for p in product_files(root)]
            elif root.exists():
                paths = [(self.source, root)]
            else:
                raise FileNotFoundError(self.source)
        except OSError as exc:
            return self._source_missing(previous, exc)
        if not paths:
            hint = f"add files ending in {', '.join(PRODUCT_SUFFIXES)}"
            problem = ConfigProblem(self.source, None, "", "no product files in this folder", hint, "warning")
            return {self.source: _SourceState(problems=[problem])}
        return {name: self._refresh_file(name, path, previous.get(name)) for name, path in paths}

    def _source_missing(self, previous: dict[str, _SourceState], exc: OSError) -> dict[str, _SourceState]:
        """The whole source is gone (unmounted, renamed, a single file deleted): keep everything, say so."""
        reason = "not found" if isinstance(exc, FileNotFoundError) else (exc.strerror or str(exc))
        states: dict[str, _SourceState] = {}
        for key, state in previous.items():
            if key == self.source and not state.products:
                continue  # only held an earlier message about the source itself
            mine = [p for p in state.problems if not (p.file == self.source and p.line is None and p.is_error)]
            states[key] = replace(state, problems=mine)
        kept = sum(len(s.products) for s in states.values())
        problem = ConfigProblem(
            self.source,
            None,
            "",
            f"products source {reason}; keeping the {kept} product(s) already loaded",
            "check the products path",
        )
        holder = states.get(self.source)
        if holder is not None:
            states[self.source] = replace(holder, problems=[*holder.problems, problem])
        else:
            states[self.source] = _SourceState(problems=[problem])
        return states

    def _refresh_file(self, name: str, path: Path, prev: _SourceState | None) -> _SourceState:
        try:
            st = path.stat()
        except OSError:
            st = None
        signature = None if st is None else (st.st_mtime_ns, st.st_size, st.st_ino)
        now = time.time()  # file mtimes are wall-clock time; only used to spot a racy (same-tick) rewrite
        if prev is not None and signature is not None and signature == prev.signature:
            racy = st is not None and prev.read_at - st.st_mtime < _RACY_S
            if not racy:
                return prev
            raw = self._read_bytes(path)
            if raw is not None and hashlib.sha256(raw).hexdigest() == prev.digest:
                prev.read_at = now
                return prev
        raw = self._read_bytes(path)
        digest = hashlib.sha256(raw).hexdigest() if raw is not None else ""
        if prev is not None and raw is not None and digest == prev.digest and not prev.stale:
            return replace(prev, signature=signature, read_at=now)  # touched, not changed
        if raw is None or len(raw) > MAX_FILE_BYTES:
            why = "could not be read" if raw is None else "is too large"
            result = ProductFileResult(name, [], [ConfigProblem(name, None, "", f"file {why}", "")], fatal=True)
        else:
            text, problems = decode_text(raw, name)
            if text is None:
                result = ProductFileResult(name, [], problems, fatal=True)
            else:
                result = read_product_text(
                    text,
                    fmt=format_of(path.name),
                    file=name,
                    base=path.resolve().parent,
                    default_currency=self.default_currency,
                )
        products, problems, stale = _merge_with_previous(result, prev)
        return _SourceState(
            signature=signature,
            digest=digest,
            read_at=now,
            products=products,
            problems=problems,
            stale=stale,
        )

    @staticmethod
    def _read_bytes(path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except OSError:
            return None

    # HTTP ------------------------------------------------------------------------------------------------------

    async def _get_session(self) -> Any:
        if self._session is None:
            import aiohttp

            self._session = aiohttp.ClientSession()
            self._own_session = True
        return self._session

    async def _refresh_url(self, prev: _SourceState | None) -> _SourceState:
        import aiohttp

        shown = redact_url(self.source)
        headers: dict[str, str] = {}
        if prev is not None and prev.etag:
            headers["If-None-Match"] = prev.etag
        if prev is not None and prev.last_modified:
            headers["If-Modified-Since"] = prev.last_modified
        session = await self._get_session()

        def failed(message: str, hint: str) -> _SourceState:
            products = prev.products if prev is not None else []
            suffix = f"; keeping the {len(products)} product(s) from the last good read" if products else ""
            problem = ConfigProblem(shown, None, "", message + suffix, hint)
            stale = [p.sheet.id for p in products]
            if prev is None:
                return _SourceState(problems=[problem])
            # Forget the validators: the next good answer must be read in full to clear this problem.
            return replace(prev, problems=[problem], stale=stale, etag=None, last_modified=None)

        try:
            timeout = aiohttp.ClientTimeout(total=self.http_timeout_s)
            async with session.get(self.source, headers=headers, timeout=timeout) as resp:
                if resp.status == 304 and prev is not None:
                    return prev
                if resp.status >= 400:
                    return failed(f"HTTP {resp.status} {resp.reason or ''}".rstrip(), "check the products URL/server")
                body = await read_body_capped(resp, MAX_FILE_BYTES)
                ctype = resp.headers.get("Content-Type", "")
                etag = resp.headers.get("ETag")
                last_modified = resp.headers.get("Last-Modified")
        except asyncio.CancelledError:
            raise
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            reason = str(exc) or type(exc).__name__
            return failed(f"could not fetch products: {redact_url(reason)}", "check the URL and the network")
        if len(body) > MAX_FILE_BYTES:
            return failed("response is too large for a product list", "is this the right URL?")
        digest = hashlib.sha256(body).hexdigest()
        if prev is not None and digest == prev.digest and not prev.stale:
            prev.etag, prev.last_modified = etag, last_modified
            return prev
        text, problems = decode_text(body, shown)
        if text is None:
            result = ProductFileResult(shown, [], problems, fatal=True)
        else:
            fmt = fmt_for_http(ctype, self.source, text)
            result = await asyncio.to_thread(
                read_product_text, text, fmt=fmt, file=shown, base=self.source, default_currency=self.default_currency
            )
        products, problems, stale = _merge_with_previous(result, prev)
        # Only remember validators for a good read, so a broken catalog is fetched again in full.
        good = not result.fatal and not stale
        return _SourceState(
            digest=digest,
            products=products,
            problems=problems,
            stale=stale,
            etag=etag if good else None,
            last_modified=last_modified if good else None,
        )

    # loop ------------------------------------------------------------------------------------------------------

    async def run(self, on_change: Callable[[CatalogUpdate], Awaitable[Any] | Any] | None = None) -> None:
        """Refresh now and then every ``refresh_s`` (measured start to start) until cancelled. ``on_change`` (sync
        or async) is called after each refresh that changed the products; its exceptions are logged, not fatal."""
        while True:
            started = self._clock()
            try:
                update = await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not end the show; the products stay as they were
                log.exception("refreshing products from %s failed", self.name)
                update = None
            if update is not None and update.changed and on_change is not None:
                try:
                    result = on_change(update)
                    if inspect.isawaitable(result):
                        await result
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("product change handler failed")
            await self._sleep(max(0.0, started + self.refresh_s - self._clock()))

    # images ----------------------------------------------------------------------------------------------------

    async def image_for(self, product: ProductSheet | str, *, size: tuple[int, int] = (480, 480)) -> np.ndarray:
        """The product's picture (BGR uint8), or a placeholder tile of ``size`` (width, height) when it has none
        or it cannot be loaded (the reason becomes a warning in ``image_problems``). ``product``: a sheet from
        this catalog or its id. Cached until the products change. Never raises for a missing or bad picture."""
        product_id = product if isinstance(product, str) else product.id
        loaded = self._by_id.get(product_id)
        if loaded is None:
            name = product.name if isinstance(product, ProductSheet) else product_id
            return await asyncio.to_thread(placeholder_image, name, size)
        ref = loaded.sheet.image
        if not ref:
            return await asyncio.to_thread(placeholder_image, loaded.sheet.name, size)
        key = (ref, str(loaded.base))
        hit = self._images.get(key)
        if hit is not None:
            self._images.move_to_end(key)
            return hit
        session = await self._get_session() if ref.startswith(("http://", "https://")) or self._is_url else None
        try:
            img = await read_image_async(ref, loaded.base, session=session, timeout_s=self.http_timeout_s)
            self._image_problems.pop(product_id, None)
        except ImageLoadError as exc:
            problem = ConfigProblem(
                loaded.file,
                loaded.lines.get("image", loaded.line),
                "image",
                f"{exc.reason}; showing a placeholder",
                exc.hint,
                "warning",
            )
            if str(problem) not in {str(p) for p in self._image_problems.values()}:
                log.warning("%s", problem)
            self._image_problems[product_id] = problem
            img = await asyncio.to_thread(placeholder_image, loaded.sheet.name, size)  # drawing: off the loop
        self._images[key] = img
        while len(self._images) > self._image_cache_size:
            self._images.popitem(last=False)
        return img

    @property
    def image_problems(self) -> list[ConfigProblem]:
        return list(self._image_problems.values())

    # lifecycle ---------------------------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the HTTP session if the catalog opened it. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None

    async def __aenter__(self) -> ProductCatalog:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
