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
    "STATUS_TIMEOUT",
    "STATUS_NO_MEMORY",
    "STATUS_ACCESS_DENIED",
)
SUCCESS = STATUSES.index("STATUS_SUCCESS")
PENDING = STATUSES.index("STATUS_PENDING")
NOINTERFACE = STATUSES.index("STATUS_NOINTERFACE")
TIMEOUT = STATUSES.index("STATUS_TIMEOUT")
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
BUILTIN_CALLS = {
    "assert",
    "error",
    "acquire",
    "release",
    "queue",
    "npi_call_begin",
    "npi_call_end",
    "allocate_binding_context",
    "free_binding_context",
    "free_registration_data",
} | {
    # kernel primitives (docs/language.md section 8 on): rundown protection, reference
    # counts, IRQL, shared locks, events, epochs, memory, failure points, NPI functions
    "ExInitializeRundownProtection",
    "ExAcquireRundownProtection",
    "ExReleaseRundownProtection",
    "ExWaitForRundownProtectionRelease",
    "ExReInitializeRundownProtection",
    "reference",
    "dereference",
    "KeRaiseIrql",
    "KeLowerIrql",
    "acquire_shared",
    "release_shared",
    "KeSetEvent",
    "KeClearEvent",
    "KeResetEvent",
    "KeWaitForSingleObject",
    "ebpf_epoch_enter",
    "ebpf_epoch_exit",
    "ebpf_epoch_synchronize",
    "allocate",
    "free",
    "use",
    "may_fail",
    "npi_call",
}
# built-in calls that return a value: (the type a target may have)
VALUED_CALLS = {
    "ExAcquireRundownProtection": ("bool",),
    "KeWaitForSingleObject": ("status",),
    "allocate": ("bool",),
    "may_fail": ("bool", "status"),
    "dereference": ("int",),
}
# the states of the kernel primitives, as traces and specs show them
RUNDOWN_STATES = ("ACTIVE", "RUNNING_DOWN", "RUN_DOWN")
OBJECT_STATES = ("NONE", "VALID", "FREED")
EPOCH_STATES = ("OUT", "IN", "IN_OLD")


@dataclass(frozen=True)
class Obligation:
    """A checked rule of nmr-semantics.md: its id, section and one-line statement."""

    id: str
    section: str
    text: str


OBLIGATIONS = {
    o.id: o
    for o in (
        Obligation(
            "REG-1",
            "§5.1",
            "registration data stays valid from NmrRegister* until the registration is CLOSED",
        ),
        Obligation(
            "REG-2",
            "§5.1",
            "the module is ready (its state assigned) before NMR can call it: attach callbacks "
            "and NPI paths read nothing unassigned",
        ),
        Obligation(
            "ATT-4",
            "§5.2",
            "the binding context is initialised before the peer can use it (N7)",
        ),
        Obligation(
            "ATT-5",
            "§5.2",
            "a failed attach frees its own binding context (no cleanup callback will come)",
        ),
        Obligation(
            "ATT-7",
            "§5.2",
            "a provider that accepts hands out its binding context: it has one when "
            "ProviderAttachClient returns STATUS_SUCCESS",
        ),
        Obligation(
            "REG-4", "§5.1", "NmrRegister* and NmrClientAttachProvider run at PASSIVE_LEVEL"
        ),
        Obligation(
            "REG-6",
            "§5.1",
            "callbacks do not use the registration handle before NmrRegister* has returned "
            "and stored it (NMR may attach and detach inside the call, N10)",
        ),
        Obligation("REG-5", "§5.1", "each registration is registered once while it is live"),
        Obligation(
            "ATT-8",
            "§5.2",
            "no lock that the module's NPI paths take is held across NmrClientAttachProvider",
        ),
        Obligation(
            "CALL-1",
            "§5.3",
            "no new call into the peer once the module's detach callback was called",
        ),
        Obligation(
            "CALL-2",
            "§5.3",
            "no call into the peer after the module's side is DONE or outside the attached phases",
        ),
        Obligation(
            "CALL-3",
            "§5.3",
            "a module keeps servicing incoming calls (image loaded, context valid) until cleanup",
        ),
        Obligation(
            "DET-2",
            "§5.4",
            "a detach callback returns STATUS_SUCCESS only with no call into the peer in flight",
        ),
        Obligation(
            "DET-7",
            "§5.4",
            "detach and cleanup callbacks never block or wait "
            "(NMR may call them at DISPATCH_LEVEL)",
        ),
        Obligation(
            "CLN-1", "§5.5", "a binding context is freed only in or after the cleanup callback"
        ),
        Obligation(
            "CLN-2",
            "§5.5",
            "a module whose binding contexts need freeing registers a cleanup callback",
        ),
        Obligation(
            "CLN-3", "§5.5", "after cleanup the module does not touch the binding or its contexts"
        ),
        Obligation(
            "DRG-6",
            "§5.6",
            "no deadlock around the wait: the waiting thread holds nothing a completion needs, "
            "and no lock the module's own callbacks take is held across NmrDeregister*",
        ),
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
            "returned STATUS_PENDING, at most once, and with no call into the peer in flight",
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
