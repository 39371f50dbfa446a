"""Exceptions users see and raise; a leaf module imported by every layer."""

from __future__ import annotations


class SlipstreamError(Exception):
    """Base of every error slipstream raises on its own behalf."""


class NonRecoverableError(Exception):
    """Raised by user code to fail a task at once, without spending its retries."""


class DefinitionError(SlipstreamError, TypeError):
    """A task or workflow is defined wrongly (missing type hint, bad option, bad quantity)."""


class CompileError(SlipstreamError):
    """A workflow's DAG does not type-check or is malformed; raised when it is defined."""


class TypeTransformError(SlipstreamError, TypeError):
    """A value does not match its declared type, or a type has no transformer."""


class ConfigError(SlipstreamError, ValueError):
    """A configuration value is invalid."""


class ExecutionError(SlipstreamError):
    """An execution failed for a reason other than a user exception (system failure, abort)."""


class LeaseLostError(ExecutionError):
    """This server no longer holds an execution's lease (another server took it over, or the
    lease could not be renewed in time): it writes nothing more and stops driving it."""


class TaskTimeoutError(SlipstreamError, TimeoutError):
    """An attempt ran longer than its task's timeout and was stopped."""


class RemoteError(SlipstreamError):
    """A user exception whose type could not be re-created in this process.

    Carries the original type name, message and traceback text.
    """

    def __init__(self, type_name: str, message: str, traceback_text: str = "") -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message
        self.traceback_text = traceback_text


class Aborted(ExecutionError):
    """An execution (or its node) was aborted: on request, by Ctrl-C, or by another node failing."""


class SystemFailure(ExecutionError):
    """An attempt failed outside the task's own code; it spends the system retry budget."""


class LaunchError(SystemFailure):
    """A runner could not start an attempt."""


class AttemptDied(SystemFailure):
    """An attempt ended without writing outputs.json or error.json (killed, crashed)."""


class AttemptLost(SystemFailure):
    """An attempt could not be found again after the engine that ran it died."""


class OOMKilled(SystemFailure):
    """The attempt's container ran out of memory and was killed."""


class Disrupted(SystemFailure):
    """The cluster stopped the attempt (node shutdown, deadline, admission...)."""


class Evicted(Disrupted):
    """The attempt's Pod was evicted from its node."""


class Preempted(Disrupted):
    """The attempt's Pod was preempted (e.g. a spot node was reclaimed)."""


class ImagePullError(SystemFailure):
    """The attempt's container image could not be pulled."""


class PodConfigError(SystemFailure):
    """The cluster refused the attempt's Pod as configured (bad volume, secret, ...)."""


class KubernetesConfigError(SystemFailure):
    """The objects of an attempt could not be built (no image, a broken plugin)."""


class PendingTooLong(SystemFailure):
    """An attempt waited longer than pending_timeout on something that may clear
    (unschedulable, a full quota, an image pull back-off, a crash loop, an operator error)."""


class AdmissionRefused(SystemFailure):
    """The cluster refused the Pods or objects of an attempt as specified (Pod Security, a
    webhook, an operator that cannot create them)."""


class KubernetesApiError(SystemFailure):
    """The Kubernetes API server refused to create an attempt's objects."""


class KubernetesRunnerError(SystemFailure):
    """The Kubernetes runner could not collect an attempt's outcome."""


class StorageError(SystemFailure):
    """A store failed for its own sake (down, full, read-only, corrupt), never the user's.

    Its message names the store's URL (password hidden) or path, the error and what to do.
    """


class MetadataStoreError(StorageError):
    """The metadata database cannot be opened or used."""


class NoDatabaseError(MetadataStoreError):
    """A read-only open found no slipstream database there (and created nothing)."""


class BlobStoreError(StorageError):
    """A blob could not be written or read for the blob store's sake (read-only, full, down)."""
