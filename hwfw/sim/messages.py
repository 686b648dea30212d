"""Redfish messages and error envelopes, in each vendor's dialect (docs/vendor-behaviour.md,
"Errors and messages" and each vendor's "answers").

MessageIds follow `Registry.Major.Minor.Key`; the registry versions and the severity
spelling (`MessageSeverity`, legacy `Severity`, both, or none) come from the profile's
`Dialect`. Texts are our own wording of the registries' meaning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

# key -> (text with %1.. placeholders, severity, resolution)
REGISTRY: dict[str, dict[str, tuple[str, str, str]]] = {
    "Base": {
        "Success": ("The request completed successfully.", "OK", "None."),
        "Created": ("The resource was created successfully.", "OK", "None."),
        "Accepted": ("The request was accepted and will be processed.", "OK", "Poll the returned task for progress."),
        "GeneralError": ("A general error occurred: %1.", "Critical", "Retry the request; contact the vendor if it persists."),
        "InternalError": ("The service hit an internal error.", "Critical", "Retry later; reset the service if it persists."),
        "NoValidSession": ("No valid session exists for this request.", "Critical", "Create a session or supply valid credentials."),
        "AccessDenied": ("Access to %1 was denied.", "Critical", "Use credentials with the needed privileges."),
        "InsufficientPrivilege": ("The account lacks the privilege for this operation.", "Critical", "Use an account with more privileges."),
        "ResourceNotFound": ("The requested resource of type %1 named %2 was not found.", "Critical", "Check the URI and retry."),
        "ActionNotSupported": ("The action %1 is not supported by this resource.", "Critical", "Check the resource's Actions."),
        "OperationNotAllowed": ("The operation is not allowed on this resource.", "Critical", "Check the Allow header."),
        "ActionParameterMissing": ("The action %1 needs the parameter %2, which is missing.", "Critical", "Add the parameter and resubmit."),
        "ActionParameterValueNotInList": ("The value %1 for parameter %2 of action %3 is not allowed.", "Warning", "Use one of the allowable values."),
        "ActionParameterValueFormatError": ("The value %1 for parameter %2 of action %3 has the wrong format.", "Critical", "Correct the value."),
        "ActionParameterNotSupported": ("The parameter %1 for the action %2 is not supported on the target resource.", "Warning", "Remove the parameter and resubmit."),
        "PropertyValueNotInList": ("The value %1 for property %2 is not allowed.", "Warning", "Use one of the allowable values."),
        "PropertyNotWritable": ("The property %1 is read-only.", "Warning", "Remove the property from the request."),
        "PropertyUnknown": ("The property %1 is not known to this resource.", "Warning", "Remove the property from the request."),
        "PropertyValueTypeError": ("The value %1 for property %2 has the wrong type.", "Warning", "Send a value of the type the registry declares."),
        "PropertyValueOutOfRange": ("The value %1 for property %2 is outside the allowed range.", "Warning", "Send a value within the registry's bounds."),
        "PropertyValueFormatError": ("The value %1 for property %2 does not have the allowed format.", "Warning", "Send a value matching the registry's length and pattern."),
        "PreconditionFailed": ("The ETag in If-Match does not match the resource.", "Critical", "Read the resource again and retry with its ETag."),
        "PreconditionRequired": ("This request needs an If-Match header.", "Critical", "Read the resource's ETag and send it in If-Match."),
        "PayloadTooLarge": ("The request body is too large.", "Critical", "Send a smaller image (see MaxImageSizeBytes)."),
        "ResourceInUse": ("The resource is busy with another operation.", "Warning", "Retry when the current operation has finished."),
        "ServiceTemporarilyUnavailable": ("The service is temporarily unavailable; retry in %1 seconds.", "Critical", "Wait and retry."),
        "ServiceShuttingDown": ("The service is shutting down.", "Critical", "Retry after the service restarts."),
        "SessionLimitExceeded": ("The session could not be created: the session limit is reached.", "Critical", "Log out unused sessions or wait for them to expire."),
        "PasswordChangeRequired": ("The password must be changed before the account can be used.", "Critical", "Change the password with a PATCH to %1."),
        "ResetRequired": ("A reset is needed to finish the operation: call %1 with ResetType %2.", "Warning", "Reset the component to apply the change."),
        "MalformedJSON": ("The request body is not valid JSON.", "Critical", "Fix the JSON and resubmit."),
        "PropertyMissing": ("The property %1 is required and missing.", "Critical", "Add the property and resubmit."),
        "ResourceAtUriUnauthorized": ("The server at %1 refused the credentials: %2.", "Critical", "Check the image server credentials."),
        "CouldNotEstablishConnection": ("No connection could be established with %1.", "Critical", "Check the URI and the network."),
        "ResourceCannotBeDeleted": ("The resource cannot be deleted.", "Critical", "None."),
        "QueryNotSupported": ("The query is not supported.", "Warning", "Remove the query."),
        "ResourceAlreadyExists": ("A resource with %1 = %2 already exists.", "Critical", "Use another value."),
    },
    "Update": {
        "TargetDetermined": ("The target %1 was determined for image %2.", "OK", "None."),
        "AllTargetsDetermined": ("All targets for image %1 were determined.", "OK", "None."),
        "UpdateInProgress": ("An update is in progress.", "OK", "None."),
        "TransferringToComponent": ("Image %1 is being transferred to %2.", "OK", "None."),
        "VerifyingAtComponent": ("Image %1 is being verified at %2.", "OK", "None."),
        "InstallingOnComponent": ("Image %1 is being installed on %2.", "OK", "None."),
        "ApplyingOnComponent": ("Image %1 is being applied on %2.", "OK", "None."),
        "AwaitToUpdate": ("Awaiting an action to proceed with installing image %1 on %2.", "OK", "Perform the action that starts the update."),
        "AwaitToActivate": ("Awaiting an action to activate image %1 on %2.", "OK", "Perform the action that activates the image."),
        "UpdateSuccessful": ("%1 was updated successfully to image %2.", "OK", "None."),
        "TransferFailed": ("Transfer of image %1 to %2 failed.", "Critical", "Check the image source and retry."),
        "VerificationFailed": ("Verification of image %1 at %2 failed.", "Critical", "Use an image built for this component and model."),
        "ApplyFailed": ("Installing or applying image %1 on %2 failed.", "Critical", "Retry the update; contact the vendor if it persists."),
        "ActivateFailed": ("Activating image %1 on %2 failed.", "Critical", "Retry the activation."),
        "UpdateSkipped": ("Device %1 skipped the update with image %2.", "OK", "None."),
        "UpdateSkippedSameVersion": ("Device %1 skipped the update: image %2 is the version already installed.", "OK", "Use ForceUpdate to install it anyway."),
        "UpdateSkippedVersionTooLow": ("Device %1 skipped the update: image %2 is below the lowest supported version.", "Warning", "Use a newer image."),
        "UpdateNotApplicable": ("Image %1 does not apply to %2.", "Critical", "Use an image for this target."),
        "OperationTransitionedToJob": ("The operation continues as job %1.", "OK", "Follow the job."),
    },
    "TaskEvent": {
        "TaskStarted": ("The task with Id '%1' has started.", "OK", "None."),
        "TaskProgressChanged": ("The task with Id '%1' changed to progress %2 percent.", "OK", "None."),
        "TaskCompletedOK": ("The task with Id '%1' has completed.", "OK", "None."),
        "TaskCompletedWarning": ("The task with Id '%1' has completed with warnings.", "Warning", "None."),
        "TaskAborted": ("The task with Id '%1' has been aborted.", "Critical", "None."),
        "TaskCancelled": ("The task with Id '%1' has been cancelled.", "Warning", "None."),
        "TaskRemoved": ("The task with Id '%1' has been removed.", "Warning", "None."),
    },
    "IDRAC": {
        "JCP001": ("Task successfully scheduled.", "OK", "None."),
        "RED002": ("Package successfully downloaded.", "OK", "None."),
        "RED014": ("Unable to create the job: a firmware update for the same component is already scheduled or running.", "Warning", "Wait for or delete the existing job, then retry."),
        "RED106": ("Unable to parse the update package.", "Critical", "Use a valid update package for this system."),
        "RED007": ("Unable to verify the update package signature.", "Critical", "Use a genuine update package."),
        "PR19": ("Job completed successfully.", "OK", "None."),
        "SUP029": ("Unable to update the firmware: the update package does not apply to this system.", "Critical", "Use a package for this model and component."),
        "SUP024": ("The firmware image URI is not a valid Previous or Available inventory member.", "Critical", "Use an inventory member URI."),
        "SYS518": ("iDRAC is not ready: a previous operation is still completing.", "Warning", "Retry in a few minutes."),
        "RAC0218": ("The maximum number of user sessions is reached.", "Critical", "Close sessions that are no longer needed."),
        "SUP0518": ("Unable to update the firmware: a virtual AC power cycle is needed to finish.", "Warning", "Run a virtual AC power cycle (DellOemChassis.ExtendedReset PowerCycle)."),
        "RED052": ("The update package is the version already installed.", "Informational", "None."),
        "JCP037": ("Job deleted successfully.", "OK", "None."),
        "SUP001": ("The job queue was cleared.", "OK", "None."),
        "BIOS012": ("No pending data present to create a Configuration job.", "Warning", "Set pending BIOS attribute values first."),
        "SYS011": ("Pending configuration values are already committed, unable to perform another set operation.", "Warning", "Wait for the scheduled job to complete or delete the configuration jobs before attempting more set attribute operations."),
        "SYS413": ("Unable to perform the operation: the update job for this component is in progress.", "Critical", "Wait for the job to complete."),
    },
    "iLO": {
        "ExtendedInfo": ("See @Message.ExtendedInfo for more information.", "OK", "None."),
        "SystemResetRequired": ("A system reset is required to finish the operation.", "Warning", "Reset the system."),
        "ResetRequired": ("A reset of iLO is required to finish the operation.", "Warning", "Reset iLO."),
        "UnableToModifyDuringSystemPOST": ("The value cannot be changed while the server is in POST.", "Warning", "Retry after POST has finished."),
        "InvalidOperationForSystemState": ("The operation is not allowed in the current system state.", "Warning", "Retry after the system is ready."),
        "UpdateServiceBusy": ("The update service is busy with another flash operation.", "Warning", "Retry after the current operation finishes."),
        "FirmwareFlashFailed": ("The firmware flash failed: %1.", "Critical", "Use a valid image for this server."),
        "ComponentUploadFailed": ("The component upload failed: %1.", "Critical", "Check the file and retry."),
        "UpdateTaskQueueFull": ("The update task queue is full.", "Warning", "Delete finished tasks."),
        "TPMOverrideRequired": ("The flash was refused: a TPM is present and TPMOverride was not set.", "Warning", "Set TPMOverride after suspending BitLocker/TPM measurements."),
        "ComponentNotFound": ("The component %1 is not in the repository.", "Critical", "Upload the component first."),
        "NotILOFlashable": ("The component %1 cannot be flashed by iLO; queue it for UEFI or the runtime agent.", "Warning", "Use the update task queue."),
        "FWFlashSuccessTrayRestart": ("The firmware flash finished; iLO will reset.", "OK", "None."),
    },
    "SMC": {
        "OemLicenseNotPassed": ("This feature needs a licence (%1) that is not activated.", "Critical", "Activate the DCMS licence."),
        "OemFirmwareAlreadyInUpdateMode": ("The firmware is already in update mode.", "Critical", "Wait for the update to end, or cold-reset the BMC."),
        "OemBiosUpdateIsInProgress": ("A BIOS update is already in progress.", "Critical", "Wait for it to finish."),
        "OemSimpleupdateAcceptedMessage": ("The update request was accepted; follow %1.", "OK", "None."),
        "OemNoStagedUpdate": ("No verified image is waiting to be installed.", "Critical", "Upload an image first."),
    },
}


@dataclass(frozen=True)
class Dialect:
    """How a vendor spells messages: registry versions and severity properties."""

    versions: Mapping[str, str] = field(default_factory=lambda: {
        "Base": "1.22", "Update": "1.3", "TaskEvent": "1.0", "IDRAC": "2.8", "iLO": "2.25", "SMC": "1.0"})
    severity: str = "MessageSeverity"   # MessageSeverity | Severity | both | none
    odata_type: bool = False
    error_code_from_first: bool = True

    def message_id(self, registry: str, key: str) -> str:
        version = self.versions.get(f"{registry}.{key}") or self.versions.get(registry, "1.0")
        return f"{registry}.{version}.{key}"


GENERIC_DIALECT = Dialect()


def _format(text: str, args: Sequence[Any]) -> str:
    for i, arg in enumerate(args, start=1):
        text = text.replace(f"%{i}", str(arg))
    return text


def message(registry: str, key: str, args: Sequence[Any] = (), dialect: Dialect = GENERIC_DIALECT,
            related: Sequence[str] | None = None) -> dict[str, Any]:
    """One Message object (for @Message.ExtendedInfo or Task.Messages)."""
    text, severity, resolution = REGISTRY[registry][key]
    out: dict[str, Any] = {}
    if dialect.odata_type:
        out["@odata.type"] = "#Message.v1_1_1.Message"
    out["MessageId"] = dialect.message_id(registry, key)
    out["Message"] = _format(text, args)
    out["MessageArgs"] = [str(a) for a in args]
    if dialect.severity in ("MessageSeverity", "both"):
        out["MessageSeverity"] = severity if severity != "Informational" else "OK"
    if dialect.severity in ("Severity", "both"):
        out["Severity"] = severity if severity != "Informational" else "OK"
    out["Resolution"] = resolution
    if related:
        out["RelatedProperties"] = list(related)
    return out


def error_body(registry: str, key: str, args: Sequence[Any] = (), dialect: Dialect = GENERIC_DIALECT,
               extra: Sequence[dict[str, Any]] = (), related: Sequence[str] | None = None) -> dict[str, Any]:
    """The standard `{"error": {...}}` envelope around one (or more) messages."""
    first = message(registry, key, args, dialect, related)
    infos = [first, *extra]
    return {"error": {"code": first["MessageId"] if dialect.error_code_from_first else dialect.message_id("Base", "GeneralError"),
                      "message": first["Message"], "@Message.ExtendedInfo": infos}}


def hpe_envelope(registry: str, key: str, args: Sequence[Any] = (), dialect: Dialect = GENERIC_DIALECT) -> dict[str, Any]:
    """iLO success (and error) shape: `error.code` is always iLO.x.ExtendedInfo, success or not."""
    return {"error": {"code": dialect.message_id("iLO", "ExtendedInfo"),
                      "message": REGISTRY["iLO"]["ExtendedInfo"][0],
                      "@Message.ExtendedInfo": [message(registry, key, args, dialect)]}}
