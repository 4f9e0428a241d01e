#include "vocaseg_ffmpeg_shim.h"
#include <errno.h>
#include <libavutil/avutil.h>
#include <libavutil/error.h>

int64_t vs_av_nopts_value(void) { return AV_NOPTS_VALUE; }
int vs_averror_eagain(void) { return AVERROR(EAGAIN); }
int vs_averror_eof(void) { return AVERROR_EOF; }
int vs_averror(int posix_errno) { return AVERROR(posix_errno); }
int vs_averror_invaliddata(void) { return AVERROR_INVALIDDATA; }
int vs_averror_decoder_not_found(void) { return AVERROR_DECODER_NOT_FOUND; }
