/* libpyagent: export macro. Included by every public header; include <pyagent/pyagent.h> instead. */
#ifndef PYAGENT_EXPORT_H
#define PYAGENT_EXPORT_H

#ifndef PYAGENT_API
#  if defined(_WIN32) && !defined(PYAGENT_STATIC)
#    ifdef PYAGENT_BUILDING
#      define PYAGENT_API __declspec(dllexport)
#    else
#      define PYAGENT_API __declspec(dllimport)
#    endif
#  elif defined(__GNUC__)
#    define PYAGENT_API __attribute__((visibility("default")))
#  else
#    define PYAGENT_API
#  endif
#endif

#endif
