import 'dart:ffi' as ffi;
import 'dart:io' show Platform;

import 'package:ffi/ffi.dart';

import 'errors.dart';
import 'pyagent_bindings.g.dart';

/// The loaded libpyagent with its generated [bindings].
///
/// Where the library comes from: [PyagentLibrary.open]'s `path`, else the `PYAGENT_LIBRARY`
/// environment variable, else the platform's file name (`libpyagent.so.1` on Linux,
/// `libpyagent.so` on Android, `libpyagent.1.dylib` on macOS, `pyagent-1.dll` on Windows;
/// on iOS the library is linked into the app and found in the process).
///
/// The first call on a loaded library is `pyagent_check_abi(PYAGENT_ABI_VERSION)`; a
/// mismatch throws [AbiMismatchException] naming both ABI numbers and the file.
class PyagentLibrary {
  final ffi.DynamicLibrary dynamicLibrary;
  final PyagentBindings bindings;

  /// The path it was opened from; null when it is linked into the process.
  final String? path;

  /// Calls pyagent_agent_destroy on agents that are garbage-collected without close().
  late final ffi.NativeFinalizer agentFinalizer =
      ffi.NativeFinalizer(bindings.addresses.pyagent_agent_destroy.cast());

  /// Calls pyagent_engine_destroy on engines that are garbage-collected without close(). Any
  /// order is safe: a destroyed engine lives on in C until its last agent is destroyed.
  late final ffi.NativeFinalizer engineFinalizer =
      ffi.NativeFinalizer(bindings.addresses.pyagent_engine_destroy.cast());

  PyagentLibrary._(this.dynamicLibrary, this.path)
      : bindings = PyagentBindings(dynamicLibrary);

  static PyagentLibrary? _instance;

  /// The library of this isolate, opened on first use.
  static PyagentLibrary get instance => _instance ??= open();

  /// The file name the platform's loader is asked for when no path is given.
  static String? get defaultPath {
    final fromEnvironment = Platform.environment['PYAGENT_LIBRARY'];
    if (fromEnvironment != null && fromEnvironment.isNotEmpty) return fromEnvironment;
    if (Platform.isIOS) return null;
    if (Platform.isAndroid) return 'libpyagent.so';
    if (Platform.isMacOS) return 'libpyagent.$PYAGENT_ABI_VERSION.dylib';
    if (Platform.isWindows) return 'pyagent-$PYAGENT_ABI_VERSION.dll';
    return 'libpyagent.so.$PYAGENT_ABI_VERSION';
  }

  /// Opens libpyagent at [path] (see the class comment for the default) and checks its ABI.
  static PyagentLibrary open({String? path, int abiVersion = PYAGENT_ABI_VERSION}) {
    final where = path ?? defaultPath;
    final ffi.DynamicLibrary dl;
    try {
      dl = where == null ? ffi.DynamicLibrary.process() : ffi.DynamicLibrary.open(where);
    } on ArgumentError catch (e) {
      throw PyagentException(PYAGENT_ERR_IO,
          'cannot load libpyagent from ${where ?? 'the process'}: $e. Set PYAGENT_LIBRARY to '
          'the path of libpyagent.so.$abiVersion or put it on the library search path.');
    }
    if (!dl.providesSymbol('pyagent_check_abi')) {
      throw AbiMismatchException(PYAGENT_ERR_ABI_MISMATCH,
          '${where ?? 'the process'} is not libpyagent: it has no pyagent_check_abi');
    }
    final library = PyagentLibrary._(dl, where);
    final b = library.bindings;
    if (b.pyagent_check_abi(abiVersion) != PYAGENT_OK) {
      final version = b.pyagent_version_string().cast<Utf8>().toDartString();
      throw AbiMismatchException(
          PYAGENT_ERR_ABI_MISMATCH,
          'ABI mismatch: the libpyagent at ${where ?? 'the process'} implements ABI '
          '${b.pyagent_abi_version()} (version $version), but this pyagent package was '
          'generated from headers of ABI $abiVersion. Point PYAGENT_LIBRARY at a '
          'libpyagent.so.$abiVersion, or use the pyagent package that matches the library.');
    }
    return library;
  }

  /// The library's version string (pyagent_version_string).
  String get version => bindings.pyagent_version_string().cast<Utf8>().toDartString();

  /// The library's fixed name of a status code (pyagent_status_str).
  String statusName(int status) =>
      bindings.pyagent_status_str(status).cast<Utf8>().toDartString();

  /// A params object of [kind] with [values] set: an int through pyagent_params_set_i64, a
  /// double through pyagent_params_set_f64. The caller destroys it with
  /// pyagent_params_destroy. Unknown keys and out-of-range values throw [PyagentException].
  ffi.Pointer<pyagent_params> createParams(int kind, Map<String, num> values) {
    final b = bindings;
    final params = b.pyagent_params_create(kind);
    if (params == ffi.nullptr) {
      throw PyagentException(PYAGENT_ERR_INVALID_ARGUMENT, 'unknown params kind $kind');
    }
    try {
      for (final entry in values.entries) {
        final key = entry.key.toNativeUtf8(allocator: calloc);
        try {
          final value = entry.value;
          final status = value is int
              ? b.pyagent_params_set_i64(params, key.cast(), value)
              : b.pyagent_params_set_f64(params, key.cast(), value.toDouble());
          if (status != PYAGENT_OK) {
            throw PyagentException(status,
                b.pyagent_params_last_error(params).cast<Utf8>().toDartString());
          }
        } finally {
          calloc.free(key);
        }
      }
    } catch (_) {
      b.pyagent_params_destroy(params);
      rethrow;
    }
    return params;
  }
}
