/// A libpyagent call failed: [status] is the `pyagent_status` code (PYAGENT_ERR_*), [message]
/// the detail from the handle's last-error string.
class PyagentException implements Exception {
  final int status;
  final String message;

  const PyagentException(this.status, this.message);

  @override
  String toString() => 'PyagentException(status $status): $message';
}

/// The loaded library implements another ABI than the headers these bindings were generated
/// from, or the file is not libpyagent at all.
class AbiMismatchException extends PyagentException {
  const AbiMismatchException(int status, String message) : super(status, message);

  @override
  String toString() => 'AbiMismatchException: $message';
}
