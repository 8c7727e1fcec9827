import { cppCheck } from '../helpers/cpp.js';

cppCheck('arena: aligned, reused after reset, no growth on a repeated step; parallel_for: exact cover, nesting', 'test/native/cpp/core.cpp', [
  'native/core/arena.cpp',
  'native/core/memory.cpp',
  'native/core/threads.cpp',
]);

cppCheck('vexp and verf (the vectorised softmax exp and GELU erf) match libm over their ranges', 'test/native/cpp/vmath.cpp', []);
