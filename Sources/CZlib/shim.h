#ifndef VOCASEG_CZLIB_H
#define VOCASEG_CZLIB_H
#include <zlib.h>
#endif
