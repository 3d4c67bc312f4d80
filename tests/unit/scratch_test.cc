#include "engine/kernels/scratch.h"

#include <gtest/gtest.h>

namespace beex {
namespace {

constexpr int kAfter = ScratchBuffer<float>::kShrinkAfter;

TEST(ScratchBufferTest, GrowsToTheLargestRequestAndKeepsItThroughShortLulls) {
  ScratchBuffer<float> b;
  float* big = b.Get(4000);
  big[3999] = 1.0f;  // writable to the requested size
  EXPECT_GE(b.capacity(), 4000u);
  for (int i = 0; i < kAfter - 1; ++i) b.Get(10);
  EXPECT_GE(b.capacity(), 4000u);  // one request short of giving it back
  EXPECT_EQ(b.Get(4000), big);     // and the same memory, no reallocation
}

TEST(ScratchBufferTest, GivesMemoryBackAfterARunOfSmallRequests) {
  ScratchBuffer<float> b;
  b.Get(4000);
  for (int i = 0; i < kAfter; ++i) b.Get(10);
  EXPECT_LT(b.capacity(), 100u);
  EXPECT_GE(b.capacity(), 10u);
  b.Get(10)[9] = 1.0f;
}

TEST(ScratchBufferTest, ARequestNearItsSizeRestartsTheCount) {
  ScratchBuffer<float> b;
  b.Get(4000);
  for (int i = 0; i < kAfter - 1; ++i) b.Get(10);
  b.Get(1000);  // a quarter of the buffer: still in use
  for (int i = 0; i < kAfter - 1; ++i) b.Get(10);
  EXPECT_GE(b.capacity(), 4000u);
}

TEST(ScratchBufferTest, ZeroSizedRequestsLeaveAUsablePointer) {
  ScratchBuffer<float> b;
  b.Get(64);
  for (int i = 0; i < kAfter; ++i) EXPECT_NE(b.Get(0), nullptr);
}

}  // namespace
}  // namespace beex
