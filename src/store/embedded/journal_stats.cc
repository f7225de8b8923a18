#include "store/embedded/journal_stats.h"

namespace rf::store::embedded {

void RenderJournalMetrics(const std::vector<const JournalStats*>& shards, std::string& out) {
  obs::TextExposition x(out);
  auto counter = [&](const char* name, const char* help, obs::Counter JournalStats::*field) {
    uint64_t sum = 0;
    for (const JournalStats* s : shards) sum += (s->*field).Get();
    x.Family(name, "counter", help);
    x.SampleU(name, "", sum);
  };
  counter("rf_journal_batches_total", "Journal batches written (one writev + one fdatasync).",
          &JournalStats::batches);
  counter("rf_journal_records_total", "Journal records made durable.", &JournalStats::records);
  counter("rf_journal_bytes_total", "Bytes written to journal segments.", &JournalStats::bytes);
  counter("rf_journal_rotations_total", "Journal segments started.", &JournalStats::rotations);
  counter("rf_journal_snapshots_total", "Journal snapshots written.", &JournalStats::snapshots);
  counter("rf_journal_segments_deleted_total", "Journal segments removed under a snapshot.",
          &JournalStats::segments_deleted);

  x.Family("rf_journal_batch_records", "histogram", "Records per journal batch.");
  std::vector<const obs::CountHistogram*> per_batch;
  for (const JournalStats* s : shards) per_batch.push_back(&s->batch_records);
  x.CountHistogramSum("rf_journal_batch_records", per_batch);

  std::vector<const obs::Histogram*> fsync, batch;
  for (const JournalStats* s : shards) {
    fsync.push_back(&s->fsync_latency);
    batch.push_back(&s->batch_latency);
  }
  x.Family("rf_journal_fsync_seconds", "histogram", "Time of one journal fdatasync.");
  x.HistogramSum("rf_journal_fsync_seconds", "", fsync);
  x.Family("rf_journal_batch_seconds", "histogram",
           "Time from a journal batch's writev to its fdatasync completing.");
  x.HistogramSum("rf_journal_batch_seconds", "", batch);
}

}  // namespace rf::store::embedded
