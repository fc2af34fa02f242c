"""The `local` backend: files beside the stack.

`.voxplan/<stack>.state.json` (or `<stack>.<env>.state.json` for a named environment) holds the snapshot,
one resource per line; while an apply runs, each successful remote change appends one line to
`<state>.journal` (O(1) however large the state). The line is written before the change counts as done,
so a killed process loses nothing (the kernel holds it); a flusher thread fsyncs behind the writers, one
fsync covering every line written while the previous one ran. Loading replays the journal over the file;
`commit` folds it in with an atomic replace (temp file, fsync, rename) and keeps a `.backup` of the state
as it was before the run. A torn last journal line (a kill mid-write) is dropped; anything else unreadable
stops the run: state is never taken as empty. Files are created 0600.

The lock is an exclusive `flock` on `<state>.lock`, released by the kernel if the process dies (POSIX;
`msvcrt.locking` on Windows). History is `<stack>.history.jsonl`. Publications (OpenAI agents, published by
apply for `voxplan serve`) are `<stack>.published.json`: every version ever published and a serial, replaced
atomically by each publication (apply holds the lock); `wait_published` watches the file. Claims: none — a
local state cannot know about other stacks (see the README's ownership section for what that leaves uncaught).
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from voxplan.core.errors import LockHeld, StateError
from voxplan.core.secret import SafeEncoder
from voxplan.state import codec
from voxplan.state.model import replay
from voxplan.state.store import Claim, Holder, Publication, Published, Snapshot

POLL_PUBLISHED = 0.2  # seconds between looks at the publications file (serve picks a change up within it)
_ENCODE = SafeEncoder(separators=(", ", ": ")).encode  # no indent: the C encoder (indent=2 took 10x longer)


def state_path(stack_file: Path, stack_name: str, env: str = "default") -> Path:
    suffix = "" if env == "default" else f".{env}"
    return stack_file.parent / ".voxplan" / f"{stack_name}{suffix}.state.json"


def journal_path(state_file: Path) -> Path:
    return state_file.with_name(state_file.name + ".journal")


def published_path(state_file: Path) -> Path:
    return state_file.with_name(state_file.name.removesuffix(".state.json") + ".published.json")


def lock_path(state_file: Path) -> Path:
    return state_file.with_name(state_file.name + ".lock")


class LocalStore:
    name = "local"

    def __init__(self, path: Path | str, stack: str, env: str = "default"):
        self.path = Path(path)
        self.stack = stack
        self.env = env
        self._fd: int | None = None  # the journal, open for appends until commit
        self._cond = threading.Condition()
        self._written = 0
        self._synced = 0
        self._flusher: threading.Thread | None = None
        self._backed_up = False
        self._publishing = threading.Lock()

    @classmethod
    def open(cls, settings: dict[str, Any], *, stack_file: Path, stack: str, env: str) -> LocalStore:
        """`backend: {local: {dir: PATH}}` puts state in PATH (relative to the stack) instead of .voxplan/."""
        path = state_path(stack_file, stack, env)
        if settings.get("dir"):
            path = (stack_file.parent / str(settings["dir"])) / path.name
        return cls(path, stack, env)

    def describe(self) -> str:
        return str(self.path)

    # -- snapshot and journal -----------------------------------------------------------------------
    def load(self) -> Snapshot:
        journal = journal_path(self.path)
        if not self.path.exists():
            if journal.exists():
                raise StateError(f"{journal}: a journal without its state file; refusing to guess")
            return Snapshot()
        where = f"{self.path} (local state of stack {self.stack})"
        try:
            data = json.loads(_read_regular(self.path))
        except (OSError, ValueError) as exc:
            why = (str(exc) if isinstance(exc, ValueError) and "regular" in str(exc) else
                   f"cut short or not JSON at line {exc.lineno}, column {exc.colno}"
                   if isinstance(exc, json.JSONDecodeError) else type(exc).__name__)
            raise StateError(f"{where}: state is unreadable ({why}); refusing to treat it as "
                             f"empty. Restore it from {self.path.name}.backup or fix it by hand") from None
        if not isinstance(data, dict) or not isinstance(data.get("resources"), dict):
            raise StateError(f"{where}: not a voxplan state file (no resources mapping)")
        entries = data.pop("resources")
        shared = data.pop("shared", None)
        if _format(data) >= codec.FORMAT:
            shared, entries = codec.check(shared, entries, where)
        else:
            shared = None
        serial = replay(self._journal(journal), entries, _serial(data, where), shared)
        return Snapshot(head={**data, "serial": serial}, entries=entries, exists=True, shared=shared, where=where)

    def _journal(self, journal: Path) -> list[dict[str, Any]]:
        if not journal.exists():
            return []
        try:
            lines = _read_regular(journal).split("\n")
        except (OSError, ValueError) as exc:
            why = str(exc) if isinstance(exc, ValueError) and "regular" in str(exc) else type(exc).__name__
            raise StateError(f"{journal}: unreadable ({why}); refusing to guess") from None
        records = []
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                if i == len(lines) - 1:
                    break  # the torn tail of a killed append: the one line without its line break
                record = line
            if not isinstance(record, dict) or not ("put" in record and isinstance(record.get("entry"), dict)
                                                    or "rm" in record or "mv" in record and "to" in record):
                shown = line if len(line) <= 60 else line[:57] + "..."
                raise StateError(f"{journal} (local journal of stack {self.stack}): line {i + 1} is corrupt, not a "
                                 f"journal record ({shown}); refusing to guess")
            records.append(record)
        return records

    def check(self) -> None:
        """The flock is held by this process's open file until it closes: it cannot go from under it."""

    def append(self, records: list[dict[str, Any]], *, take: Sequence[Claim] = (),
               release: Sequence[Claim] = ()) -> Callable[[], None]:
        """One line per record, written before this returns (the local backend keeps no claims: `take` and
        `release` are not kept); fsync follows on the flusher thread (`sync` waits for it)."""
        text = "".join(_ENCODE(r) + "\n" for r in records).encode()
        with self._cond:
            if self._fd is None:
                try:
                    self._fd = os.open(journal_path(self.path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                except OSError as exc:
                    raise StateError(f"cannot write {journal_path(self.path)}: {exc.strerror}; state on disk is "
                                     "as it was before this change") from None
                self._flusher = threading.Thread(target=self._flush_loop, name="voxplan-state-flush", daemon=True)
                self._flusher.start()
            _write_all(self._fd, text, journal_path(self.path))
            self._written += 1
            self._cond.notify_all()
        return _written

    def sync(self) -> None:
        with self._cond:
            while self._synced < self._written:
                self._cond.wait()

    def _flush_loop(self) -> None:
        while True:
            with self._cond:
                while self._synced == self._written and self._fd is not None:
                    self._cond.wait()
                fd, target = self._fd, self._written
                if fd is None:
                    return
            os.fsync(fd)  # outside the lock: writers go on appending meanwhile
            with self._cond:
                self._synced = max(self._synced, target)
                self._cond.notify_all()

    def commit(self, head: dict[str, Any], entries: Mapping[str, dict[str, Any]]) -> None:
        self.sync()
        shared, written = codec.encoded(entries, _ENCODE)
        head = {**head, "format_version": max(_format(head), codec.FORMAT)}
        _make_dir(self.path.parent)
        with self._cond:
            if not self._backed_up and self.path.exists():  # once per run: the state before this run
                with self.path.open(encoding="utf-8") as old:
                    _atomic_write(self.path.with_name(self.path.name + ".backup"), old)
            self._backed_up = True
            _atomic_write(self.path, _snapshot_text(head, shared, written))
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
                self._synced = self._written
                self._cond.notify_all()  # the flusher sees no journal and ends
            journal_path(self.path).unlink(missing_ok=True)
        if self._flusher is not None:
            self._flusher.join()
            self._flusher = None

    def close(self) -> None:
        with self._cond:
            if self._fd is not None:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None
                self._synced = self._written
                self._cond.notify_all()
        if self._flusher is not None:
            self._flusher.join()
            self._flusher = None

    # -- history and ownership ----------------------------------------------------------------------
    @property
    def history_path(self) -> Path:
        return self.path.with_name(self.path.name.removesuffix(".state.json") + ".history.jsonl")

    def record_history(self, run: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.history_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            _write_all(fd, (_ENCODE(run) + "\n").encode(), self.history_path)
            os.fsync(fd)
        finally:
            os.close(fd)

    def history(self) -> list[dict[str, Any]]:
        if not self.history_path.exists():
            return []
        out = []
        for line in self.history_path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # a torn last line
        return out

    def owners(self, objects: Iterable[Claim]) -> dict[Claim, str]:
        return {}

    def claim(self, objects: Iterable[Claim], *, take_over: bool = False) -> None:
        return None

    def release(self, objects: Iterable[Claim]) -> None:
        return None

    # -- publications -------------------------------------------------------------------------------
    def _read_published(self) -> dict[str, Any]:
        path = published_path(self.path)
        if not path.exists():
            return {"serial": 0, "versions": []}
        try:
            data = json.loads(_read_regular(path))
        except (OSError, ValueError) as exc:
            raise StateError(f"{path}: publications are unreadable ({type(exc).__name__}); refusing to guess"
                             ) from None
        if not isinstance(data, dict) or not isinstance(data.get("versions"), list):
            raise StateError(f"{path}: not a voxplan publications file")
        return data

    def published(self) -> Published:
        data = self._read_published()
        live: dict[str, Publication] = {}
        for v in data["versions"]:
            address = f"{v['kind']}/{v['name']}"
            if v.get("body") is None:
                live.pop(address, None)
            else:
                live[address] = Publication(v["kind"], v["name"], int(v["version"]), dict(v["body"]), v.get("at", ""))
        return Published(int(data.get("serial", 0)), live)

    def publish(self, kind: str, name: str, body: dict[str, Any] | None) -> Publication | None:
        with self._publishing:  # apply's threads publish concurrently: one read-modify-replace at a time
            return self._publish(kind, name, body)

    def _publish(self, kind: str, name: str, body: dict[str, Any] | None) -> Publication | None:
        data = self._read_published()
        version = 1 + max((int(v["version"]) for v in data["versions"] if (v["kind"], v["name"]) == (kind, name)),
                          default=0)
        at = Holder.current().since
        data["versions"].append({"kind": kind, "name": name, "version": version, "body": body, "at": at})
        data["serial"] = int(data.get("serial", 0)) + 1
        _make_dir(self.path.parent)
        _atomic_write(published_path(self.path), _ENCODE(data) + "\n")
        return None if body is None else Publication(kind, name, version, body, at)

    def wait_published(self, serial: int, timeout: float) -> int:
        """Polls the file's modification time (a rename by `publish` changes it): a few stat calls a
        second, no inotify dependency."""
        path = published_path(self.path)
        deadline = time.monotonic() + timeout
        seen: tuple[int, int] | None = None
        while True:
            try:
                st = path.stat()
                stamp = (st.st_ino, st.st_mtime_ns)
            except OSError:
                stamp = (0, 0)
            if stamp != seen:
                seen = stamp
                now = self.published().serial
                if now != serial:
                    return now
            left = deadline - time.monotonic()
            if left <= 0:
                return serial
            time.sleep(min(POLL_PUBLISHED, left))

    # -- locking ------------------------------------------------------------------------------------
    @contextmanager
    def lock(self, timeout: float = 0.0) -> Iterator[None]:
        """Hold the stack's apply lock; wait up to `timeout` seconds, then fail naming the holder."""
        path = lock_path(self.path)
        _make_dir(path.parent)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StateError(f"cannot open the lock {path}: {exc.strerror}") from None
        deadline = time.monotonic() + timeout
        try:
            while not _try_lock(fd):
                if time.monotonic() >= deadline:
                    raise LockHeld(f"state {self.path} is locked by {_read_holder(path)}; wait for it, pass "
                                   "--lock-timeout to wait longer, or if its holder is gone: voxplan force-unlock "
                                   "STACK LOCK_ID") from None
                time.sleep(0.1)
            info = json.dumps(Holder.current().locking().to_json()).encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, info, 0)
            yield
        finally:
            os.close(fd)

    def unlock(self, *, force: bool = False) -> str:
        """Remove the lock file, refusing while a live process holds the lock unless `force`."""
        path = lock_path(self.path)
        if not path.exists():
            return f"{self.path} is not locked."
        holder = _read_holder(path)
        try:
            with self.lock(timeout=0):
                pass
        except LockHeld:
            if not force:
                raise LockHeld(f"state {self.path} is locked by {holder}, which is still running; "
                               "pass --force to remove the lock anyway") from None
        path.unlink(missing_ok=True)
        return f"Removed the lock on {self.path} (last holder: {holder})."


    def force_unlock(self, lock_id: str) -> str:
        """Remove the lock file if its holder's lock id is `lock_id`. A holder that is still running keeps
        its `flock` on the removed file, so the next run locks a new file: that is what breaking a lock
        means here, and why the id must match (a lock that changed hands is never broken)."""
        path = lock_path(self.path)
        if not path.exists():
            return f"{self.path} is not locked."
        fd = os.open(path, os.O_RDWR)
        try:
            free = _try_lock(fd)  # held by nobody now: only a stale holder record is left
            holder = _holder_of(path)
            if holder is None or holder.lock_id != lock_id:
                found = f"lock id {holder.lock_id}" if holder and holder.lock_id else "no lock id"
                raise LockHeld(f"state {self.path}: the lock has {found}, not {lock_id}; refusing to break "
                               "another lock (it may have changed hands: look again)")
            path.unlink()
        finally:
            os.close(fd)
        if free:
            return f"{self.path} was not locked any more (lock {lock_id}, {holder.describe()}, had ended); " \
                   "removed its record."
        return (f"Broke the lock {lock_id} on {self.path} ({holder.describe()}). If that process is still running "
                "it goes on until it ends: stop it before the next apply.")


def _format(head: dict[str, Any]) -> int:
    value = head.get("format_version", 0)
    return value if type(value) is int else 0


def _serial(head: dict[str, Any], where: str) -> int:
    try:
        return int(head.get("serial", 0))
    except (TypeError, ValueError):
        raise StateError(f"{where}: its serial {head.get('serial')!r} is not a number; refusing to guess") from None


def _read_regular(path: Path) -> str:
    """A state file's text; anything but a regular file (a FIFO, a device such as /dev/zero behind a
    symlink) is refused before it is read, so it can neither block nor stream forever."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read().decode("utf-8")
    finally:
        os.close(fd)


def _make_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StateError(f"cannot make the state directory {path}: {exc.strerror or type(exc).__name__}") from None


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _holder_of(lock_file: Path) -> Holder | None:
    try:
        data = json.loads(lock_file.read_text() or "{}")
        return Holder.from_json(data) if isinstance(data, dict) and data else None
    except (OSError, ValueError, TypeError):
        return None


def _read_holder(lock_file: Path) -> str:
    holder = _holder_of(lock_file)
    return holder.describe() if holder else "another process"


def _write_all(fd: int, data: bytes, path: Path) -> None:
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError as exc:
        raise StateError(f"cannot write {path}: {exc.strerror}; state on disk is as it was before this change") \
            from None


def _snapshot_text(head: dict[str, Any], shared: list[Any], written: Iterable[tuple[str, Any]]) -> Iterator[str]:
    """The state file, a line at a time (one per resource): never the whole text at once, nor every entry as
    written (`written` makes each as it is taken: codec.encoded)."""
    yield "{\n" + "\n".join(f"  {_ENCODE(k)}: {_ENCODE(v)}," for k, v in head.items())
    yield '\n  "shared": [' + ("\n" + ",\n".join(f"    {_ENCODE(v)}" for v in shared) + "\n  " if shared else "")
    yield '],\n  "resources": {'
    separator = "\n"
    for address, entry in written:
        yield f"{separator}    {_ENCODE(address)}: {_ENCODE(entry)}"
        separator = ",\n"
    yield ("\n  " if separator != "\n" else "") + "}\n}\n"


def _atomic_write(path: Path, text: str | Iterable[str]) -> None:
    """Replace `path` with `text` (or its pieces, written as they come) atomically."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mkstemp makes it 0600
    except OSError as exc:
        raise StateError(f"cannot write {path}: {exc.strerror}; state on disk is unchanged") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.writelines([text] if isinstance(text, str) else text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise StateError(f"cannot write {path}: {exc.strerror}; state on disk is unchanged") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _written() -> None:
    """A local append is written when `append` returns: nothing more to wait for."""
