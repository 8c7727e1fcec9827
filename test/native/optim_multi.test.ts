// The multi-tensor C++ entry points (adamw_step_multi, clip_grad_norm) take lists, which the op
// binding does not carry, so their check is a C++ program built against the sources.
import { cppCheck } from '../helpers/cpp.js';

cppCheck(
  'adamw_step_multi matches per-tensor steps; clip_grad_norm follows its definition',
  'test/native/cpp/optim_multi.cpp',
  ['native/cpu/optim.cpp', 'native/core/threads.cpp'],
);
