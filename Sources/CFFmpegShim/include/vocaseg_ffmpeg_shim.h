#ifndef VOCASEG_FFMPEG_SHIM_H
#define VOCASEG_FFMPEG_SHIM_H
#include <stdint.h>
// Values that FFmpeg defines as function-like macros, which Swift cannot import.
int64_t vs_av_nopts_value(void);
int vs_averror_eagain(void);
int vs_averror_eof(void);
int vs_averror(int posix_errno);
int vs_averror_invaliddata(void);
int vs_averror_decoder_not_found(void);
#endif
