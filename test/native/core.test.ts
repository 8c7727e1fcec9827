import { cppCheck } from '../helpers/cpp.js';

cppCheck('arena: aligned, reused after reset, no growth on a repeated step; parallel_for: exact cover, nesting', 'test/native/cpp/core.cpp', [
  'native/core/arena.cpp',
  'native/core/memory.cpp',
  'native/core/threads.cpp',
]);

cppCheck('vexp (the vectorised softmax exp) matches libm over its range', 'test/native/cpp/vmath.cpp', []);
