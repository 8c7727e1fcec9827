// The CUDA surface of the binding on any build and machine: cudaInfo(), the op API's device option
// and the model's config.device. Where CUDA cannot run (a CPU-only build, or a CUDA build without a
// GPU) every request for it is an Error carrying cudaInfo()'s reason; where it can, an op on the
// GPU returns what the CPU does (fp32 GEMMs), in-place ops update the caller's buffers, and a
// reused output is overwritten, not added to.
import test from 'ava';
import { cudaInfo, cudaMath, cudaUnavailableReason, requireDevice, selectCuda, setCudaMath } from '../../lib/device.js';
import { AMAE_PRESETS, createAmae } from '../../lib/models/amae.js';
import { addon, runOp } from '../../lib/native.js';
import { indices, type Tensor } from '../../lib/tensor.js';
import { randn } from '../helpers/random.js';

const NO_CUDA_BUILD = 'this build of amae has no CUDA backend (build with AMAE_CUDA=1)';
const info = cudaInfo();
const withoutGpu = info.available ? test.skip : test;
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('cudaInfo() describes the device, or why there is none', (t) => {
  t.deepEqual(Object.keys(info).sort(), ['available', 'count', 'cublas', 'freeMemory', 'index', 'major', 'minor', 'multiprocessors', 'name', 'reason', 'totalMemory'].sort());
  t.is(typeof addon.build.cublas, 'boolean');
  if (!addon.build.cuda) {
    t.deepEqual(info, { available: false, reason: NO_CUDA_BUILD, index: -1, count: 0, name: '', major: 0, minor: 0, multiprocessors: 0, totalMemory: 0, freeMemory: 0, cublas: false });
    t.false(addon.build.cublas);
  } else if (!info.available) {
    t.true(info.reason.length > 0, 'a CUDA build without a usable device says why');
  } else {
    t.is(info.reason, '');
    t.true(info.count >= 1 && info.index >= 0 && info.totalMemory > 0 && info.major >= 1);
    t.is(info.cublas, addon.build.cublas);
  }
  t.is(cudaUnavailableReason(), info.available ? null : info.reason);
});

test('the math mode is checked and remembered; selecting a device is checked', (t) => {
  const before = cudaMath();
  t.true(before === 'f32' || before === 'bf16');
  setCudaMath('f32');
  t.is(cudaMath(), 'f32');
  setCudaMath('bf16');
  t.is(cudaMath(), 'bf16');
  setCudaMath(before);
  t.throws(() => setCudaMath('fp16' as never), { instanceOf: RangeError, message: /mode must be 'f32' or 'bf16', got 'fp16'/ });
  t.throws(() => setCudaMath(16 as never), { instanceOf: TypeError, message: /mode must be 'f32' or 'bf16'/ });
  t.throws(() => selectCuda(-1), { instanceOf: RangeError, message: /index must be a non-negative integer/ });
  t.throws(() => selectCuda('0' as never), { instanceOf: TypeError, message: /index must be a number/ });
  if (!addon.build.cuda) t.throws(() => selectCuda(0), { message: new RegExp(escape(NO_CUDA_BUILD)) });
  else if (!info.available) t.throws(() => selectCuda(0));
  else t.throws(() => selectCuda(info.count), { message: /does not exist/ });
});

test('op options are checked like every other argument', (t) => {
  const x = randn([5], 1);
  t.throws(() => runOp('gelu_forward', { x }, {}, undefined, 'cuda' as never), { instanceOf: TypeError, message: /gelu_forward: options must be an object/ });
  t.throws(() => runOp('gelu_forward', { x }, {}, undefined, { device: 'tpu' as never }), { instanceOf: RangeError, message: /gelu_forward: options\.device must be 'cpu' or 'cuda', got 'tpu'/ });
  t.throws(() => runOp('gelu_forward', { x }, {}, undefined, { device: 1 as never }), { instanceOf: TypeError, message: /gelu_forward: options\.device must be 'cpu' or 'cuda'/ });
  t.throws(() => runOp('gelu_forward', { x }, {}, undefined, { place: 'cuda' } as never), { instanceOf: TypeError, message: /unknown option options\.place/ });
  // Argument errors come first, the same on every machine.
  t.throws(() => runOp('gelu_forward', {}, {}, undefined, { device: 'cuda' }), { instanceOf: TypeError, message: /inputs\.x is required/ });
});

test('an op on the CPU by option is the op as before', async (t) => {
  const x = randn([7, 3], 2);
  const plain = await runOp<{ y: Tensor }>('gelu_forward', { x });
  const cpu = await runOp<{ y: Tensor }>('gelu_forward', { x }, {}, undefined, { device: 'cpu' });
  t.deepEqual(cpu.y, plain.y);
});

withoutGpu('an op on device cuda where CUDA cannot run: an Error naming the op and the reason', (t) => {
  const reason = escape(info.reason);
  t.throws(() => runOp('gelu_forward', { x: randn([4], 3) }, {}, undefined, { device: 'cuda' }), {
    instanceOf: Error,
    message: new RegExp(`^gelu_forward on device 'cuda': ${reason}$`),
  });
  const x = randn([3, 4], 4);
  t.throws(() => runOp('gather_rows_forward', { x, index: indices([2, 0]) }, {}, undefined, { device: 'cuda' }), {
    message: new RegExp(`^gather_rows_forward on device 'cuda': ${reason}$`),
  });
});

withoutGpu("a model on device 'cuda' where CUDA cannot run: an Error with the reason; bad devices are typed errors", (t) => {
  const reason = escape(info.reason);
  const tiny = AMAE_PRESETS.tiny;
  t.throws(() => new addon.Model('amae', { ...tiny, device: 'cuda' }), { instanceOf: Error, message: new RegExp(`^config\\.device 'cuda': ${reason}$`) });
  t.throws(() => createAmae('tiny', { device: 'cuda' }), { instanceOf: Error, message: new RegExp(`^device 'cuda': ${reason}$`) });
  t.throws(() => createAmae({ ...tiny, device: 'cuda' }), { instanceOf: Error, message: new RegExp(`^device 'cuda': ${reason}$`) });
  t.throws(() => requireDevice('cuda'), { message: new RegExp(`^device 'cuda': ${reason}$`) });
});

test('config.device: typed errors naming it; cpu by default', (t) => {
  const tiny = AMAE_PRESETS.tiny;
  t.throws(() => new addon.Model('amae', { ...tiny, device: 'tpu' as never }), { instanceOf: RangeError, message: /^config\.device must be 'cpu' or 'cuda', got 'tpu'$/ });
  t.throws(() => new addon.Model('amae', { ...tiny, device: 0 as never }), { instanceOf: TypeError, message: /^config\.device must be 'cpu' or 'cuda'$/ });
  t.throws(() => createAmae('tiny', { device: 'gpu' as never }), { instanceOf: RangeError, message: /^device must be 'cpu' or 'cuda', got 'gpu'$/ });
  t.throws(() => createAmae('tiny', { device: 5 as never }), { instanceOf: TypeError, message: /^device must be 'cpu' or 'cuda'$/ });
  t.is(new addon.Model('amae', tiny).device, 'cpu');
  t.is(new addon.Model('amae', { ...tiny, device: 'cpu' }).device, 'cpu');
  const model = createAmae({ ...tiny, device: 'cpu' });
  t.is(model.device, 'cpu');
  t.false('device' in model.config, 'the device is not part of the recorded configuration');
});
