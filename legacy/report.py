"""What an import did (or, with --dry-run, would do): counts, skipped files, warnings."""

from dataclasses import asdict, dataclass, field

KINDS = ("projects", "agents", "tasks", "events")


@dataclass
class Count:
    imported: int = 0
    already_present: int = 0
    skipped: int = 0
    files_skipped: int = 0


@dataclass
class Report:
    source: str
    dry_run: bool
    counts: dict = field(default_factory=lambda: {kind: Count() for kind in KINDS})
    skipped_files: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    def warn(self, path, message):
        self.warnings.append(f"{path}: {message}")

    def skip_file(self, kind, path, reason):
        self.counts[kind].files_skipped += 1
        self.skipped_files.append({"path": str(path), "kind": kind, "reason": reason})

    def skip(self, kind, path, message):
        """One record left out (the rest of its file imports)."""
        self.counts[kind].skipped += 1
        self.warn(path, message)

    @property
    def complete(self):
        """Everything there was got imported (or was already)."""
        return not any(c.skipped or c.files_skipped for c in self.counts.values())

    @property
    def imported(self):
        return sum(c.imported for c in self.counts.values())

    def as_dict(self):
        return {
            "from": self.source,
            "dry_run": self.dry_run,
            "complete": self.complete,
            "counts": {kind: asdict(count) for kind, count in self.counts.items()},
            "skipped_files": self.skipped_files,
            "warnings": self.warnings,
        }

    def lines(self):
        verb = "to import" if self.dry_run else "imported"
        head = f"dry run, nothing written: what importing {self.source} would do" if self.dry_run else f"imported {self.source}"
        out = [head]
        for kind, c in self.counts.items():
            files = f", {c.files_skipped} file(s) skipped whole" if c.files_skipped else ""
            out.append(f"{kind}: {c.imported} {verb}, {c.already_present} already present, {c.skipped} skipped{files}")
        return out

    def problems(self):
        return [f"skipped {f['path']}: {f['reason']}" for f in self.skipped_files] + [
            f"warning: {w}" for w in self.warnings
        ]
