// ThreadSanitizer cannot see synchronization inside Debian's Abseil, which is
// not built with -fsanitize=thread: absl::Mutex waits on futexes in an
// uninstrumented library, so every access it protects reads as a race. This
// library, preloaded into the tsan preset's tests (CMakePresets.json), wraps
// the public lock, unlock, await and notification entry points of
// libabsl_synchronization and tells TSan what they do (__tsan_acquire /
// __tsan_release on the mutex), then calls the real function. It is itself
// uninstrumented and used nowhere else.
//
// Conditions are wrapped too: absl evaluates a waiter's Condition inside the
// library, on whichever thread holds the mutex at that moment, so each
// evaluation is bracketed by an acquire and a release of its mutex.
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);

namespace {

template <typename Fn>
Fn Real(const char* symbol) {
  void* fn = dlsym(RTLD_NEXT, symbol);
  if (fn == nullptr) {
    std::fprintf(stderr, "absl_mutex_annotations: %s not found\n", symbol);
    std::abort();
  }
  return reinterpret_cast<Fn>(fn);
}

// A condition evaluated under `mu`, with TSan told so.
struct Annotated {
  void* mu;
  const absl::Condition* cond;
  static bool Eval(Annotated* a) {
    __tsan_acquire(a->mu);
    const bool met = a->cond->Eval();
    __tsan_release(a->mu);
    return met;
  }
};

}  // namespace

// Defines wrapper `name` under the mangled name `sym` of the Abseil function
// it stands for, so the preloaded definition is the one every caller binds
// to. BEEX_REAL(name) is Abseil's own definition of the same symbol: each
// symbol is written once, so a wrapper cannot call another function than
// the one it replaces.
#define BEEX_WRAP(sym, ret, name, params)  \
  constexpr char k##name##Symbol[] = #sym; \
  ret name params __asm__(#sym);           \
  ret name params
#define BEEX_REAL(name) Real<decltype(&name)>(k##name##Symbol)

BEEX_WRAP(_ZN4absl7debian35Mutex4LockEv, void, Lock, (void* mu)) {
  static auto real = BEEX_REAL(Lock);
  real(mu);
  __tsan_acquire(mu);
}

BEEX_WRAP(_ZN4absl7debian35Mutex6UnlockEv, void, Unlock, (void* mu)) {
  static auto real = BEEX_REAL(Unlock);
  __tsan_release(mu);
  real(mu);
}

BEEX_WRAP(_ZN4absl7debian35Mutex10ReaderLockEv, void, ReaderLock, (void* mu)) {
  static auto real = BEEX_REAL(ReaderLock);
  real(mu);
  __tsan_acquire(mu);
}

BEEX_WRAP(_ZN4absl7debian35Mutex12ReaderUnlockEv, void, ReaderUnlock,
          (void* mu)) {
  static auto real = BEEX_REAL(ReaderUnlock);
  __tsan_release(mu);
  real(mu);
}

BEEX_WRAP(_ZN4absl7debian35Mutex7TryLockEv, bool, TryLock, (void* mu)) {
  static auto real = BEEX_REAL(TryLock);
  const bool locked = real(mu);
  if (locked) __tsan_acquire(mu);
  return locked;
}

BEEX_WRAP(_ZN4absl7debian35Mutex13ReaderTryLockEv, bool, ReaderTryLock,
          (void* mu)) {
  static auto real = BEEX_REAL(ReaderTryLock);
  const bool locked = real(mu);
  if (locked) __tsan_acquire(mu);
  return locked;
}

// Await and the timed waits release the mutex while they wait and hold it
// again when they return.
BEEX_WRAP(_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE, void, Await,
          (void* mu, const absl::Condition& cond)) {
  static auto real = BEEX_REAL(Await);
  Annotated a{mu, &cond};
  __tsan_release(mu);
  real(mu, absl::Condition(&Annotated::Eval, &a));
  __tsan_acquire(mu);
}

BEEX_WRAP(
    _ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE,
    bool, AwaitWithTimeout,
    (void* mu, const absl::Condition& cond, absl::Duration t)) {
  static auto real = BEEX_REAL(AwaitWithTimeout);
  Annotated a{mu, &cond};
  __tsan_release(mu);
  const bool met = real(mu, absl::Condition(&Annotated::Eval, &a), t);
  __tsan_acquire(mu);
  return met;
}

BEEX_WRAP(_ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE,
          bool, AwaitWithDeadline,
          (void* mu, const absl::Condition& cond, absl::Time t)) {
  static auto real = BEEX_REAL(AwaitWithDeadline);
  Annotated a{mu, &cond};
  __tsan_release(mu);
  const bool met = real(mu, absl::Condition(&Annotated::Eval, &a), t);
  __tsan_acquire(mu);
  return met;
}

BEEX_WRAP(_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE, void, LockWhen,
          (void* mu, const absl::Condition& cond)) {
  static auto real = BEEX_REAL(LockWhen);
  Annotated a{mu, &cond};
  real(mu, absl::Condition(&Annotated::Eval, &a));
  __tsan_acquire(mu);
}

BEEX_WRAP(_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE, void, CondVarWait,
          (void* cv, void* mu)) {
  static auto real = BEEX_REAL(CondVarWait);
  __tsan_release(mu);
  real(cv, mu);
  __tsan_acquire(mu);
}

// gRPC's pollers and timer threads wait with a timeout (grpc_core::CondVar).
BEEX_WRAP(_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE,
          bool, CondVarWaitWithTimeout,
          (void* cv, void* mu, absl::Duration t)) {
  static auto real = BEEX_REAL(CondVarWaitWithTimeout);
  __tsan_release(mu);
  const bool timed_out = real(cv, mu, t);
  __tsan_acquire(mu);
  return timed_out;
}

BEEX_WRAP(_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE,
          bool, CondVarWaitWithDeadline, (void* cv, void* mu, absl::Time t)) {
  static auto real = BEEX_REAL(CondVarWaitWithDeadline);
  __tsan_release(mu);
  const bool timed_out = real(cv, mu, t);
  __tsan_acquire(mu);
  return timed_out;
}

BEEX_WRAP(_ZN4absl7debian312Notification6NotifyEv, void, Notify, (void* n)) {
  static auto real = BEEX_REAL(Notify);
  __tsan_release(n);
  real(n);
}

BEEX_WRAP(_ZNK4absl7debian312Notification19WaitForNotificationEv, void,
          WaitForNotification, (const void* n)) {
  static auto real = BEEX_REAL(WaitForNotification);
  real(n);
  __tsan_acquire(const_cast<void*>(n));
}
