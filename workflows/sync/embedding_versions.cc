#include "workflows/sync/embedding_versions.h"

#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"

namespace vecsync::workflows {
namespace {

// Makes `version` the one search answers from, at the caller's commit.
absl::Status MakeActive(PgConnection& conn, const std::string& domain, int version) {
  return conn
      .Query(
          "INSERT INTO vecsync.active_versions (domain, embedding_version) VALUES ($1, $2) "
          "ON CONFLICT (domain) DO UPDATE SET embedding_version = EXCLUDED.embedding_version, "
          "activated_at = now()",
          domain, version)
      .status();
}

std::string Describe(const EmbeddingProfile& p) {
  return absl::StrCat("summarizer ", p.summarizer, ", embedder ", p.embedder);
}

}  // namespace

absl::StatusOr<std::vector<EmbeddingVersion>> ListEmbeddingVersions(PgConnection& conn,
                                                                    const std::string& domain) {
  ASSIGN_OR_RETURN(PgResult r,
                   conn.Query("SELECT v.embedding_version, v.summarizer, v.embedder, "
                              "  v.state = 'complete', a.domain IS NOT NULL "
                              "FROM vecsync.embedding_versions v "
                              "LEFT JOIN vecsync.active_versions a ON a.domain = v.domain "
                              "  AND a.embedding_version = v.embedding_version "
                              "WHERE v.domain = $1 ORDER BY v.embedding_version",
                              domain));
  std::vector<EmbeddingVersion> versions(static_cast<size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    EmbeddingVersion& v = versions[static_cast<size_t>(i)];
    v.version = static_cast<int>(r.GetInt64(i, 0));
    if (!r.IsNull(i, 1) && !r.IsNull(i, 2)) {
      v.profile = EmbeddingProfile{r.GetString(i, 1), r.GetString(i, 2)};
    }
    v.complete = r.GetBool(i, 3);
    v.active = r.GetBool(i, 4);
  }
  return versions;
}

absl::StatusOr<std::optional<int>> ActiveEmbeddingVersion(PgConnection& conn,
                                                          const std::string& domain) {
  ASSIGN_OR_RETURN(PgResult r, conn.Query("SELECT embedding_version FROM vecsync.active_versions "
                                          "WHERE domain = $1",
                                          domain));
  if (r.rows() == 0) return std::nullopt;
  return static_cast<int>(r.GetInt64(0, 0));
}

absl::StatusOr<std::optional<EmbeddingVersion>> ActiveEmbeddingVersionOf(
    PgConnection& conn, const std::string& domain) {
  ASSIGN_OR_RETURN(std::vector<EmbeddingVersion> versions, ListEmbeddingVersions(conn, domain));
  for (EmbeddingVersion& v : versions) {
    if (v.active) return std::move(v);
  }
  // An active version from before versions were recorded: known by its number only.
  ASSIGN_OR_RETURN(std::optional<int> active, ActiveEmbeddingVersion(conn, domain));
  if (!active) return std::nullopt;
  EmbeddingVersion v;
  v.version = *active;
  v.complete = true;
  v.active = true;
  return v;
}

EmbeddingVersionChoice ChooseEmbeddingVersion(const std::vector<EmbeddingVersion>& versions,
                                              const EmbeddingProfile& profile) {
  // The active version when its profile is this one (or unknown: made before profiles were
  // recorded, by this server's configuration as far as anyone knows); else the newest version
  // of this profile; else a new one.
  int newest = 0;
  std::optional<int> of_profile;
  for (const EmbeddingVersion& v : versions) {
    if (v.active && (!v.profile || *v.profile == profile)) return {v.version, false};
    newest = std::max(newest, v.version);
    if (v.profile && *v.profile == profile) of_profile = v.version;
  }
  if (of_profile) return {*of_profile, false};
  return {newest + 1, true};
}

absl::StatusOr<int> ResolveEmbeddingVersion(PgConnection& conn, const std::string& domain,
                                            const EmbeddingProfile& profile,
                                            std::optional<int> requested) {
  PgTransaction txn(conn);
  RETURN_IF_ERROR(txn.Begin());
  // One resolution at a time per domain: two runs never make two new versions for one profile.
  RETURN_IF_ERROR(
      conn.Query("SELECT pg_advisory_xact_lock(hashtextextended('vecsync.embedding_versions/' "
                 "|| $1, 0))",
                 domain)
          .status());
  ASSIGN_OR_RETURN(std::vector<EmbeddingVersion> versions, ListEmbeddingVersions(conn, domain));
  std::optional<int> chosen;
  if (requested) {
    for (const EmbeddingVersion& v : versions) {
      if (v.version != *requested) continue;
      if (v.profile && !(*v.profile == profile)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "embedding_version ", v.version, " of domain '", domain, "' holds vectors made with ",
            Describe(*v.profile), "; this server makes them with ", Describe(profile),
            ", and one version never mixes two. Leave embedding_version out: the run builds a "
            "new version, and search moves to it once it is complete"));
      }
      chosen = v.version;
    }
    RETURN_IF_ERROR(CheckNotOlderThanActive(conn, domain, *requested));
    if (!chosen) chosen = *requested;
  } else {
    chosen = ChooseEmbeddingVersion(versions, profile).version;
  }
  RETURN_IF_ERROR(conn.Query("INSERT INTO vecsync.embedding_versions AS v (domain, "
                             "embedding_version, summarizer, embedder, state) "
                             "VALUES ($1, $2, $3, $4, 'building') "
                             "ON CONFLICT (domain, embedding_version) DO UPDATE SET "
                             "summarizer = EXCLUDED.summarizer, embedder = EXCLUDED.embedder "
                             "WHERE v.summarizer IS NULL",
                             domain, *chosen, profile.summarizer, profile.embedder)
                      .status());
  RETURN_IF_ERROR(txn.Commit());
  return *chosen;
}

absl::Status CheckNotOlderThanActive(PgConnection& conn, const std::string& domain, int version) {
  ASSIGN_OR_RETURN(std::optional<int> active, ActiveEmbeddingVersion(conn, domain));
  if (!active || version >= *active) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "embedding_version ", version, " is older than version ", *active,
      ", the one search answers from for domain '", domain,
      "': what the run made would never be searched. Make it active first (vecsync entities "
      "versions --domain ",
      domain, " --activate ", version, "), or leave embedding_version out"));
}

absl::Status CompleteEmbeddingVersion(PgConnection& conn, const std::string& domain, int version) {
  ASSIGN_OR_RETURN(PgResult r,
                   conn.Query("UPDATE vecsync.embedding_versions SET state = 'complete', "
                              "completed_at = now() WHERE domain = $1 AND embedding_version = $2 "
                              "AND state = 'building'",
                              domain, version));
  // A version completed before (or made before versions were recorded) stays as it is.
  ASSIGN_OR_RETURN(PgResult active, conn.Query("SELECT 1 FROM vecsync.active_versions "
                                               "WHERE domain = $1",
                                               domain));
  if (r.affected_rows() == 0 && active.rows() > 0) return absl::OkStatus();
  return MakeActive(conn, domain, version);
}

absl::Status ActivateEmbeddingVersion(PgConnection& conn, const std::string& domain, int version) {
  ASSIGN_OR_RETURN(PgResult r, conn.Query("SELECT state FROM vecsync.embedding_versions "
                                          "WHERE domain = $1 AND embedding_version = $2",
                                          domain, version));
  if (r.rows() == 0) {
    return absl::NotFoundError(
        absl::StrCat("domain '", domain, "' has no embedding version ", version));
  }
  if (r.GetString(0, 0) != "complete") {
    return absl::FailedPreconditionError(
        absl::StrCat("embedding version ", version, " of domain '", domain,
                     "' is still being built: search would miss what it has not made yet"));
  }
  return MakeActive(conn, domain, version);
}

}  // namespace vecsync::workflows
