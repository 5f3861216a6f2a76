"""NMR words: statuses, lifecycle states, callbacks and obligations (nmr-semantics.md)."""

from __future__ import annotations

from dataclasses import dataclass

# NTSTATUS values a model can use (nmr-semantics.md §2). Index 0 is the default of a status local.
STATUSES = (
    "STATUS_SUCCESS",
    "STATUS_PENDING",
    "STATUS_NOINTERFACE",
    "STATUS_INSUFFICIENT_RESOURCES",
    "STATUS_INVALID_PARAMETER",
    "STATUS_UNSUCCESSFUL",
    "STATUS_NOT_SUPPORTED",
    "STATUS_DEVICE_NOT_READY",
)
SUCCESS = STATUSES.index("STATUS_SUCCESS")
PENDING = STATUSES.index("STATUS_PENDING")
NOINTERFACE = STATUSES.index("STATUS_NOINTERFACE")
INVALID_PARAMETER = STATUSES.index("STATUS_INVALID_PARAMETER")

# Driver image (§3.3). LOADING means DriverEntry is running.
DRIVER_STATES = ("LOADING", "LOADED", "UNLOADING", "UNLOADED")
# Registration (§3.1). NONE: not registered (yet, or a deferred registration).
REG_STATES = ("NONE", "ACTIVE", "DEREG_PENDING", "DRAINED", "CLOSED")
# Binding phases (§3.2). NONE: never offered (or reset by a new registration).
PHASES = (
    "NONE",
    "OFFERED",
    "PROVIDER_ATTACHING",
    "HALF_ATTACHED",
    "LIVE",
    "DETACHING",
    "CLEANUP",
    "GONE",
    "REJECTED",
)
TERMINAL_PHASES = ("NONE", "GONE", "REJECTED")
# Per-side detach state (§3.2); COMPLETED_EARLY: completed while the callback still runs (N8).
SIDE_STATES = ("NOT_CALLED", "IN_CALLBACK", "COMPLETED_EARLY", "PENDING", "DONE")
CLEANUP_STATES = ("NOT_CALLED", "RUNNING", "DONE")

CLIENT_CALLBACKS = ("ClientAttachProvider", "ClientDetachProvider", "ClientCleanupBindingContext")
PROVIDER_CALLBACKS = (
    "ProviderAttachClient",
    "ProviderDetachClient",
    "ProviderCleanupBindingContext",
)
DRIVER_ROUTINES = ("DriverEntry", "Unload")
ROUTINES = DRIVER_ROUTINES + CLIENT_CALLBACKS + PROVIDER_CALLBACKS

REGISTER = {"client": "NmrRegisterClient", "provider": "NmrRegisterProvider"}
DEREGISTER = {"client": "NmrDeregisterClient", "provider": "NmrDeregisterProvider"}
WAIT = {
    "client": "NmrWaitForClientDeregisterComplete",
    "provider": "NmrWaitForProviderDeregisterComplete",
}
COMPLETE = {
    "client": "NmrClientDetachProviderComplete",
    "provider": "NmrProviderDetachClientComplete",
}
ATTACH_CALL = "NmrClientAttachProvider"
NMR_CALLS = (
    set(REGISTER.values()) | set(DEREGISTER.values()) | set(WAIT.values()) | set(COMPLETE.values())
) | {ATTACH_CALL}
BUILTIN_CALLS = {"assert", "error", "acquire", "release", "queue"}


@dataclass(frozen=True)
class Obligation:
    """A checked rule of nmr-semantics.md: its id, section and one-line statement."""

    id: str
    section: str
    text: str


OBLIGATIONS = {
    o.id: o
    for o in (
        Obligation("REG-5", "§5.1", "each registration is registered once while it is live"),
        Obligation("ATT-1", "§5.2", "a client that did not attach must not return STATUS_SUCCESS"),
        Obligation(
            "ATT-2",
            "§5.2",
            "ClientAttachProvider returns the status of its last NmrClientAttachProvider",
        ),
        Obligation(
            "ATT-3",
            "§5.2",
            "NmrClientAttachProvider is called only inside ClientAttachProvider, "
            "and succeeds at most once",
        ),
        Obligation(
            "DET-1", "§5.4", "a detach callback returns only STATUS_SUCCESS or STATUS_PENDING"
        ),
        Obligation(
            "DET-3",
            "§5.4",
            "Nmr*DetachComplete is called only after that side's detach callback "
            "returned STATUS_PENDING, and at most once",
        ),
        Obligation(
            "DET-4", "§5.4", "after a STATUS_SUCCESS return the module never completes the detach"
        ),
        Obligation(
            "DET-6",
            "§5.4",
            "Nmr*DetachComplete receives the binding handle, never a registration handle",
        ),
        Obligation("DRG-1", "§5.6", "every registration is deregistered before Unload returns"),
        Obligation(
            "DRG-2",
            "§5.6",
            "after NmrDeregister* returns STATUS_PENDING, NmrWaitFor*DeregisterComplete "
            "returns before Unload returns",
        ),
        Obligation(
            "DRG-3", "§5.6", "NmrWaitFor*DeregisterComplete is called only after NmrDeregister*"
        ),
        Obligation(
            "DRG-4",
            "§5.6",
            "a registration handle is not used after its wait returned "
            "(no double deregistration or wait)",
        ),
        Obligation("DRG-5", "§5.6", "Unload returns only after all registrations are CLOSED"),
    )
}
