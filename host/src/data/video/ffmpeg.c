/* The host's one native dependency on FFmpeg (libavformat, libavcodec,
 * libswscale): a small, stateless C API over the parts scivid needs, so the
 * Rust side never touches FFmpeg's structs (their layout changes between
 * major versions; this file compiles against 5.x to 8.x).
 *
 * Every function returns 0 on success, or writes a message into `err` and
 * returns -1. Frames are numbered in presentation order from 0.
 */
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/mathematics.h>
#include <libswscale/swscale.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int fail(char *err, size_t err_len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, err_len, fmt, ap);
  va_end(ap);
  return -1;
}

static int fail_av(char *err, size_t err_len, const char *what, int code) {
  char msg[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(code, msg, sizeof msg);
  return fail(err, err_len, "%s: %s", what, msg);
}

/* An opened file, its best video stream and a decoder for it. */
typedef struct {
  AVFormatContext *fmt;
  AVCodecContext *dec;
  int stream;
} Video;

static void video_close(Video *v) {
  avcodec_free_context(&v->dec);
  avformat_close_input(&v->fmt);
}

static int video_open(Video *v, const char *path, char *err, size_t err_len) {
  memset(v, 0, sizeof *v);
  av_log_set_level(AV_LOG_QUIET);
  int rc = avformat_open_input(&v->fmt, path, NULL, NULL);
  if (rc < 0) return fail_av(err, err_len, "cannot open as a video", rc);
  rc = avformat_find_stream_info(v->fmt, NULL);
  if (rc < 0) {
    video_close(v);
    return fail_av(err, err_len, "cannot read the stream info", rc);
  }
  rc = av_find_best_stream(v->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
  if (rc < 0) {
    video_close(v);
    return fail(err, err_len, "no video stream");
  }
  v->stream = rc;
  AVCodecParameters *par = v->fmt->streams[v->stream]->codecpar;
  const AVCodec *codec = avcodec_find_decoder(par->codec_id);
  if (!codec) {
    video_close(v);
    return fail(err, err_len, "no decoder for codec `%s` in this FFmpeg",
                avcodec_get_name(par->codec_id));
  }
  v->dec = avcodec_alloc_context3(codec);
  if (!v->dec) {
    video_close(v);
    return fail(err, err_len, "out of memory");
  }
  rc = avcodec_parameters_to_context(v->dec, par);
  if (rc >= 0) {
    v->dec->thread_count = 1; /* the pipeline already decodes beside compute */
    rc = avcodec_open2(v->dec, codec, NULL);
  }
  if (rc < 0) {
    video_close(v);
    return fail_av(err, err_len, "cannot open the decoder", rc);
  }
  return 0;
}

/* Frame rate and time base, when the stream's timestamps can number frames. */
static int frame_timing(const Video *v, AVRational *rate, AVRational *tb) {
  const AVStream *s = v->fmt->streams[v->stream];
  *rate = s->avg_frame_rate.num > 0 ? s->avg_frame_rate : s->r_frame_rate;
  *tb = s->time_base;
  return rate->num > 0 && rate->den > 0 && tb->num > 0 && tb->den > 0;
}

int scivid_video_probe(const char *path, int32_t *width, int32_t *height,
                       int64_t *frames, char *err, size_t err_len) {
  Video v;
  if (video_open(&v, path, err, err_len) < 0) return -1;
  AVStream *s = v.fmt->streams[v.stream];
  *width = s->codecpar->width;
  *height = s->codecpar->height;
  int64_t n = s->nb_frames;
  if (n <= 0) {
    /* Containers without a frame count (Matroska, raw streams): count the
     * stream's packets, which reads the file but decodes nothing. */
    AVPacket *pkt = av_packet_alloc();
    if (!pkt) {
      video_close(&v);
      return fail(err, err_len, "out of memory");
    }
    n = 0;
    int rc;
    while ((rc = av_read_frame(v.fmt, pkt)) >= 0) {
      if (pkt->stream_index == v.stream) n++;
      av_packet_unref(pkt);
    }
    av_packet_free(&pkt);
    if (rc != AVERROR_EOF) {
      video_close(&v);
      return fail_av(err, err_len, "cannot read the packets", rc);
    }
  }
  *frames = n;
  video_close(&v);
  if (*width <= 0 || *height <= 0)
    return fail(err, err_len, "the video stream has no frame size");
  return 0;
}

/* Convert one decoded frame to packed RGB24 in `out` (width x height x 3). */
static int to_rgb(struct SwsContext **sws, const AVFrame *f, int width,
                  int height, uint8_t *out, char *err, size_t err_len) {
  if (f->width != width || f->height != height)
    return fail(err, err_len,
                "a frame is %d x %d, the stream said %d x %d (size changes "
                "mid-stream are not supported)",
                f->width, f->height, width, height);
  *sws = sws_getCachedContext(*sws, width, height, f->format, width, height,
                              AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL, NULL, NULL);
  if (!*sws)
    return fail(err, err_len, "cannot convert pixel format `%s` to RGB",
                av_get_pix_fmt_name(f->format));
  uint8_t *dst[4] = {out, NULL, NULL, NULL};
  int dst_stride[4] = {width * 3, 0, 0, 0};
  sws_scale(*sws, (const uint8_t *const *)f->data, f->linesize, 0, height,
            dst, dst_stride);
  return 0;
}

int scivid_video_decode(const char *path, const int64_t *wanted, size_t n_wanted,
                        int32_t width, int32_t height, uint8_t *rgb,
                        char *err, size_t err_len) {
  if (n_wanted == 0) return 0;
  for (size_t i = 1; i < n_wanted; i++)
    if (wanted[i] <= wanted[i - 1])
      return fail(err, err_len, "frame indices must be sorted and distinct");
  Video v;
  if (video_open(&v, path, err, err_len) < 0) return -1;
  AVPacket *pkt = av_packet_alloc();
  AVFrame *frame = av_frame_alloc();
  struct SwsContext *sws = NULL;
  const size_t frame_bytes = (size_t)width * (size_t)height * 3;
  int rc = 0, result = -1;
  size_t next = 0;  /* the next wanted frame to fill */
  int64_t count = 0; /* frames decoded, when numbering by count */
  if (!pkt || !frame) {
    fail(err, err_len, "out of memory");
    goto done;
  }

  /* Number frames by their timestamps when the stream has a frame rate
   * (then a late clip seeks to the keyframe before it instead of decoding
   * the whole video); else count from the first frame. */
  AVRational rate, tb;
  const AVStream *s = v.fmt->streams[v.stream];
  const int by_time = frame_timing(&v, &rate, &tb);
  const int64_t start = s->start_time != AV_NOPTS_VALUE ? s->start_time : 0;
  const AVRational frame_tb = av_inv_q(rate);
  if (by_time && wanted[0] > 0) {
    int64_t ts = start + av_rescale_q(wanted[0], frame_tb, tb);
    if (av_seek_frame(v.fmt, v.stream, ts, AVSEEK_FLAG_BACKWARD) < 0)
      av_seek_frame(v.fmt, v.stream, start, AVSEEK_FLAG_BACKWARD);
    avcodec_flush_buffers(v.dec);
  }

  int draining = 0;
  while (next < n_wanted) {
    if (!draining) {
      rc = av_read_frame(v.fmt, pkt);
      if (rc == AVERROR_EOF) {
        draining = 1;
        rc = avcodec_send_packet(v.dec, NULL);
      } else if (rc < 0) {
        fail_av(err, err_len, "cannot read a packet", rc);
        goto done;
      } else if (pkt->stream_index != v.stream) {
        av_packet_unref(pkt);
        continue;
      } else {
        rc = avcodec_send_packet(v.dec, pkt);
        av_packet_unref(pkt);
      }
      if (rc < 0 && rc != AVERROR(EAGAIN) && rc != AVERROR_EOF) {
        fail_av(err, err_len, "corrupt video data", rc);
        goto done;
      }
    }
    for (;;) {
      rc = avcodec_receive_frame(v.dec, frame);
      if (rc == AVERROR(EAGAIN)) break;
      if (rc == AVERROR_EOF) {
        fail(err, err_len,
             "frame %lld not found: the video ends after frame %lld",
             (long long)wanted[next], (long long)(count - 1));
        goto done;
      }
      if (rc < 0) {
        fail_av(err, err_len, "corrupt video data", rc);
        goto done;
      }
      int64_t index = count++;
      if (by_time && frame->best_effort_timestamp != AV_NOPTS_VALUE) {
        index = av_rescale_q_rnd(frame->best_effort_timestamp - start, tb,
                                 frame_tb, AV_ROUND_NEAR_INF);
        count = index + 1;
      }
      while (next < n_wanted && wanted[next] < index) {
        /* A wanted frame no timestamp maps to (a gap in a variable
         * frame rate stream): take the nearest later frame. */
        if (to_rgb(&sws, frame, width, height, rgb + next * frame_bytes, err,
                   err_len) < 0)
          goto done;
        next++;
      }
      if (next < n_wanted && wanted[next] == index) {
        if (to_rgb(&sws, frame, width, height, rgb + next * frame_bytes, err,
                   err_len) < 0)
          goto done;
        next++;
      }
      av_frame_unref(frame);
      if (next == n_wanted) break;
    }
  }
  result = 0;

done:
  sws_freeContext(sws);
  av_frame_free(&frame);
  av_packet_free(&pkt);
  video_close(&v);
  return result;
}
