#include "src/clients/token_usage.h"

namespace vecsync::clients {
namespace {
thread_local TokenUsage* t_current = nullptr;
}  // namespace

TokenUsage* TokenUsage::Current() { return t_current; }

TokenUsage::Scope::Scope(TokenUsage* usage) : previous_(t_current) { t_current = usage; }

TokenUsage::Scope::~Scope() { t_current = previous_; }

}  // namespace vecsync::clients
