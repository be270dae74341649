"""Typed errors of gifsearch: each one's message is a single line meant for a person."""


def first_line(exc: BaseException) -> str:
    """Return the first line of an exception's message, or its type name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class GifSearchError(Exception):
    """Base class: an expected failure whose message says what failed and what to do."""


class ConfigError(GifSearchError, ValueError):
    """A setting has a value outside the allowed ones."""


class UnknownGifError(ConfigError):
    """A GIF id the collection doesn't hold (a share, "more like this")."""


class SourceError(GifSearchError):
    """An ingest source can't be found, read or downloaded."""


class NetworkUnavailableError(SourceError):
    """A host could not be reached within the timeout."""


class IntegrityError(SourceError):
    """A downloaded file does not match its expected checksum."""


class ModelLoadError(GifSearchError):
    """An embedding model could not be loaded."""


class ModelMismatchError(GifSearchError):
    """A collection was built with another model than the one asked for."""


class CollectionNotFoundError(GifSearchError):
    """The collection to search does not exist (or holds nothing)."""


class EmptyQueryError(GifSearchError, ValueError):
    """A search was asked for with an empty query."""


class QueryTooLongError(GifSearchError, ValueError):
    """A query longer than a person types; refused before any model work."""


class StoreLockedError(GifSearchError):
    """Another process is writing to the store."""


class StoreUnavailableError(GifSearchError):
    """The store can't be used: a Chroma server not reached, a folder not writable."""


class StoreFullError(GifSearchError):
    """The store's disk has no room for what is being written (or for Chroma's upkeep)."""


class StoreDamagedError(GifSearchError):
    """A file of the embedded store is missing or damaged; the message names it.

    problem is that part alone (which file, and how), for a notice that goes on to mend it.
    """

    def __init__(self, message: str, problem: str = "") -> None:
        super().__init__(message)
        self.problem = problem or message


class ImagesUnsupportedError(GifSearchError):
    """The collection's model embeds text only, so images can't be ingested or searched."""


SEARCH_BY_IMAGE_HINT = "ingest with --model clip to search by image"
INGEST_FRAMES_HINT = "use --model clip and another --collection to ingest frames"


def images_unsupported(collection: str, model_name: str, hint: str) -> ImagesUnsupportedError:
    """Return the one-line error for asking a text-only collection to handle images."""
    return ImagesUnsupportedError(
        f'collection "{collection}" uses {model_name}, which can\'t embed images; {hint}'
    )


class ImageReadError(GifSearchError, ValueError):
    """An image or GIF can't be read: missing, too large, or not decodable.

    reason is the count key an ingest files it under: "decode_error" or "too_large".
    """

    def __init__(self, message: str, reason: str = "decode_error") -> None:
        super().__init__(message)
        self.reason = reason


class OnnxModelError(ModelLoadError):
    """A built ONNX embedder directory is missing, half-written, corrupt or unverified."""


class OnnxBuildError(GifSearchError):
    """An ONNX embedder could not be exported, or its vectors did not match the model's.

    min_cosine is the lowest probe cosine measured when verification was what failed.
    """

    def __init__(self, message: str, min_cosine: float | None = None) -> None:
        super().__init__(message)
        self.min_cosine = min_cosine
