// The module is the header (include/RefPrefetch.h); SwiftPM wants one source file.
#include "RefPrefetch.h"
