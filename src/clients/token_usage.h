// The tokens providers report using (the `usage` of OpenAI-compatible answers), counted for a
// piece of work: a sync-process counts its summaries' tokens, a sync-flush its embeddings'.
//
//   TokenUsage usage;
//   {
//     TokenUsage::Scope scope(&usage);   // This thread's provider calls count into `usage`.
//     summarizer->Summarize(prompt, inputs);
//   }
//   result.prompt_tokens = usage.prompt_tokens();
//
// A provider that answers on threads of its own carries the caller's Current() over to them.
// Thread-safe.
#ifndef VECSYNC_CLIENTS_TOKEN_USAGE_H_
#define VECSYNC_CLIENTS_TOKEN_USAGE_H_

#include <atomic>
#include <cstdint>

namespace vecsync::clients {

class TokenUsage {
 public:
  void Add(int64_t prompt_tokens, int64_t completion_tokens) {
    prompt_.fetch_add(prompt_tokens, std::memory_order_relaxed);
    completion_.fetch_add(completion_tokens, std::memory_order_relaxed);
  }
  int64_t prompt_tokens() const { return prompt_.load(std::memory_order_relaxed); }
  int64_t completion_tokens() const { return completion_.load(std::memory_order_relaxed); }

  // Where this thread's provider calls count now; null when nothing counts them.
  static TokenUsage* Current();

  // Makes `usage` (may be null) this thread's Current() for its lifetime.
  class Scope {
   public:
    explicit Scope(TokenUsage* usage);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    TokenUsage* const previous_;
  };

 private:
  std::atomic<int64_t> prompt_{0};
  std::atomic<int64_t> completion_{0};
};

}  // namespace vecsync::clients

#endif  // VECSYNC_CLIENTS_TOKEN_USAGE_H_
