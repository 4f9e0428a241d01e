#ifndef VOCASEG_COPENBLAS_H
#define VOCASEG_COPENBLAS_H
#include <cblas.h>
#endif
