// A domain's embedding versions (vecsync.embedding_versions) and the one search answers from
// (vecsync.active_versions).
//
// Vectors are made under an embedding profile: the summarizer's version for the domain's prompt,
// and the embedding model with its dimensions. Each version holds vectors of one profile only. A
// run syncs the version of the server's profile: the active one when it matches, else the
// version being built for it, else a new one (building). A version is complete when a run has
// walked every source row at it; the run that completes it makes it active in the same
// transaction, so search moves from the old vectors to the new ones at once. The previous version
// stays in ClickHouse and can be made active again.
#ifndef VECSYNC_WORKFLOWS_SYNC_EMBEDDING_VERSIONS_H_
#define VECSYNC_WORKFLOWS_SYNC_EMBEDDING_VERSIONS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/common/pg.h"

namespace vecsync::workflows {

struct EmbeddingProfile {
  std::string summarizer;  // The summarizer's version for the domain's prompt.
  std::string embedder;    // "model/dimensions"

  bool operator==(const EmbeddingProfile&) const = default;
};

struct EmbeddingVersion {
  int version = 0;
  // nullopt: made before profiles were recorded (it takes the next run's).
  std::optional<EmbeddingProfile> profile;
  bool complete = false;
  bool active = false;
};

// Every version of `domain`, oldest first.
absl::StatusOr<std::vector<EmbeddingVersion>> ListEmbeddingVersions(PgConnection& conn,
                                                                    const std::string& domain);

// The version search answers from; nullopt before any version completed.
absl::StatusOr<std::optional<int>> ActiveEmbeddingVersion(PgConnection& conn,
                                                          const std::string& domain);
// The same, with its profile.
absl::StatusOr<std::optional<EmbeddingVersion>> ActiveEmbeddingVersionOf(PgConnection& conn,
                                                                         const std::string& domain);

// The version a run under `profile` syncs, of `versions` (the domain's, oldest first): the active
// one when its profile is this one (or was never recorded), else the newest version of this
// profile, else a new one (`is_new`: the newest + 1). Reads nothing, writes nothing.
struct EmbeddingVersionChoice {
  int version = 1;
  bool is_new = false;
};
EmbeddingVersionChoice ChooseEmbeddingVersion(const std::vector<EmbeddingVersion>& versions,
                                              const EmbeddingProfile& profile);

// The version a run under `profile` syncs, recording a new one (building) when none matches. With
// `requested`, that version: INVALID_ARGUMENT, saying why, when it holds vectors of another
// profile, or when it is older than the active version (search would never read what it made).
absl::StatusOr<int> ResolveEmbeddingVersion(PgConnection& conn, const std::string& domain,
                                            const EmbeddingProfile& profile,
                                            std::optional<int> requested);

// INVALID_ARGUMENT, saying why, when `version` is older than the version search answers from.
absl::Status CheckNotOlderThanActive(PgConnection& conn, const std::string& domain, int version);

// Marks `version` complete and, if it was not complete before, makes it active: in the caller's
// transaction, with the rest of what the completing run records.
absl::Status CompleteEmbeddingVersion(PgConnection& conn, const std::string& domain, int version);

// Makes a complete `version` active again. FAILED_PRECONDITION for a version not complete;
// NOT_FOUND for one that does not exist.
absl::Status ActivateEmbeddingVersion(PgConnection& conn, const std::string& domain, int version);

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_EMBEDDING_VERSIONS_H_
