"""What can be wrong with a checkpoint file; every message names the file (or URL)."""


class CheckpointError(Exception):
    """A checkpoint that cannot be loaded, downloaded or written; the message says which
    file and why, in one line (the tools print it instead of a traceback)."""


class NotACheckpointError(CheckpointError):
    """The file is none of the formats checkpoints come in (``torch.save``'s zip archive or
    pickle, safetensors)."""


class CorruptCheckpointError(CheckpointError):
    """The file starts like a checkpoint but is truncated, damaged (a failed CRC-32 check) or
    does not hold what a checkpoint holds."""


class UnsafeCheckpointError(CheckpointError):
    """The file asks for an object or an operation outside the allow-list (its pickle could
    run code or corrupt memory); the message names it. Nothing of the file ran."""


class DownloadError(CheckpointError):
    """A checkpoint URL could not be fetched completely, took too long, was too large, or its
    content has another SHA-256."""


class CheckpointWriteError(CheckpointError):
    """A checkpoint could not be written (a full disk, say); what was on disk is unchanged
    and no temporary file is left."""
