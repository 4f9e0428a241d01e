#ifndef VOCASEG_CFREETYPE_H
#define VOCASEG_CFREETYPE_H
#include <ft2build.h>
#include FT_FREETYPE_H
#endif
