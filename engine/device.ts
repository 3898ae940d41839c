// The WebGPU adapter and device: a page's `navigator.gpu`, a GPU object given to initDevice({ gpu }),
// or else Dawn's Node binding (`webgpu`, imported only then, so a browser bundle never needs it).
// Dawn's order of preference ('auto'): a core adapter on a real GPU (Vulkan / Metal / D3D12); otherwise Dawn's
// OpenGL backend in compatibility mode, which runs on Mesa's llvmpipe on machines without a GPU. A
// software core adapter (Mesa's lavapipe, SwiftShader) is taken only where no OpenGL adapter exists:
// on one CPU, llvmpipe through OpenGL ran a training step 1.7x faster than lavapipe through Vulkan
// (BENCHMARKS.md). WG_BACKEND (or initDevice({backend})) picks one explicitly.
import { GpuError } from './errors.ts';
import { env, isNode, nodeProcess } from './env.ts';

type Dawn = typeof import('webgpu');

export type Backend = 'auto' | 'vulkan' | 'metal' | 'd3d12' | 'opengl' | 'opengles';

export interface DeviceInfo {
  backend: string;
  description: string;
  featureLevel: 'core' | 'compatibility';
  /** A CPU implementation (llvmpipe, lavapipe, SwiftShader), not a GPU. */
  software: boolean;
  /** Native `f16` in WGSL; without it f16 tensors are stored as packed halves. */
  shaderF16: boolean;
  /** The 'subgroups' feature and the WGSL `subgroup_id` builtin the subgroup kernels use. */
  subgroups: boolean;
  timestampQuery: boolean;
  wgslFeatures: string[];
  features: string[];
  limits: {
    maxComputeInvocationsPerWorkgroup: number;
    /** A workgroup's largest x extent (kernels declare 1-D workgroups). */
    maxComputeWorkgroupSizeX: number;
    maxComputeWorkgroupStorageSize: number;
    maxStorageBufferBindingSize: number;
    maxBufferSize: number;
    maxComputeWorkgroupsPerDimension: number;
    maxStorageBuffersPerShaderStage: number;
    /** Byte alignment of a storage binding's offset (binding windows start on it). */
    minStorageBufferOffsetAlignment: number;
  };
}

export interface InitOptions {
  backend?: Backend;
  powerPreference?: GPUPowerPreference;
  /** A WebGPU entry point to use instead of Dawn's; a page's `navigator.gpu` is found without it. */
  gpu?: GPU;
}

const BROWSER_HINT =
  'WebGPU is not available in this browser (navigator.gpu is undefined): use a browser with WebGPU ' +
  '(Chrome or Edge 113+, Safari 26+, Firefox 141+ on Windows), serve the page over https or from localhost ' +
  '(WebGPU needs a secure context), and check that it is not disabled (chrome://gpu)';

const INSTALL_HINT =
  'No WebGPU adapter found. On a machine without a GPU install Mesa\'s software renderer ' +
  '(Debian/Ubuntu: sudo apt-get install -y libegl1 libegl-mesa0 libgl1-mesa-dri libgles2) and run with ' +
  'WG_BACKEND=opengl; on a machine with a GPU install its Vulkan (or Metal/D3D12) driver.';

let dev: GPUDevice | null = null;
// Dawn's instance must outlive its device: if the GC collects it, the device's threads crash.
const instances: GPU[] = [];
let info: DeviceInfo | null = null;
let initializing: Promise<DeviceInfo> | null = null;
const pendingErrors: string[] = [];
let lostReason: string | null = null;

/** The device; initDevice() must have resolved first. */
export function device(): GPUDevice {
  if (!dev) throw new GpuError('WebGPU device not initialised: call `await initDevice()` first');
  if (lostReason) throw new GpuError(`WebGPU device lost: ${lostReason}`);
  return dev;
}

export function deviceInfo(): DeviceInfo {
  if (!info) throw new GpuError('WebGPU device not initialised: call `await initDevice()` first');
  return info;
}

/** Acquire adapter and device once; later calls return the same device. */
export function initDevice(opts: InitOptions = {}): Promise<DeviceInfo> {
  initializing ??= open(opts).catch((e) => { initializing = null; throw e; });
  return initializing;
}

async function requestAdapter(dawn: Dawn, backend: Exclude<Backend, 'auto'>, featureLevel: 'core' | 'compatibility', powerPreference?: GPUPowerPreference) {
  const gpu = dawn.create([`backend=${backend}`]) as GPU;
  instances.push(gpu);
  const adapter = await gpu.requestAdapter({ featureLevel, powerPreference } as GPURequestAdapterOptions);
  if (adapter) wgslOf.set(adapter, [...(gpu.wgslLanguageFeatures ?? [])].sort());
  return adapter;
}

// WGSL language features of the instance each adapter came from (subgroup kernels need 'subgroup_id')
const wgslOf = new WeakMap<GPUAdapter, string[]>();

/** The platform's core backends, most preferred first. */
const coreBackends = (platform = nodeProcess()?.platform): Exclude<Backend, 'auto' | 'opengl' | 'opengles'>[] =>
  platform === 'darwin' ? ['metal'] : platform === 'win32' ? ['d3d12', 'vulkan'] : ['vulkan'];

// a browser reports SwiftShader in `architecture` and leaves `description` empty
const isSoftware = (a: GPUAdapter): boolean => {
  const i = a.info as GPUAdapterInfo & { isFallbackAdapter?: boolean; device?: string };
  return !!i.isFallbackAdapter || /llvmpipe|lavapipe|swiftshader/i.test(`${i.device ?? ''} ${i.description ?? ''} ${i.architecture ?? ''}`);
};

type Found = { adapter: GPUAdapter; backend: string; featureLevel: 'core' | 'compatibility' };

/** The adapter `backend` asks for from Dawn, and the backend and feature level it came from. */
async function chooseAdapter(dawn: Dawn, backend: Backend, powerPreference?: GPUPowerPreference) {
  const core = async (b: Exclude<Backend, 'auto'>): Promise<Found | null> => {
    const adapter = await requestAdapter(dawn, b, 'core', powerPreference);
    return adapter && { adapter, backend: b, featureLevel: 'core' };
  };
  const compat = async (b: 'opengl' | 'opengles'): Promise<Found | null> => {
    const adapter = await requestAdapter(dawn, b, 'compatibility', powerPreference);
    return adapter && { adapter, backend: b, featureLevel: 'compatibility' };
  };
  if (backend === 'opengl' || backend === 'opengles') return compat(backend);
  if (backend !== 'auto') return core(backend);
  let software: Found | null = null;
  for (const b of coreBackends()) {
    const f = await core(b);
    if (f && !isSoftware(f.adapter)) return f;
    software ??= f;
  }
  return (await compat('opengl')) ?? software;
}

/**
 * The adapter of a GPU object that is not Dawn's own instance factory (a page's navigator.gpu, or one
 * given): core if it offers one, else compatibility. It picks its own backend, so none may be asked for.
 */
async function givenAdapter(gpu: GPU, source: string, backend: Backend, powerPreference?: GPUPowerPreference): Promise<Found | null> {
  if (backend !== 'auto') {
    throw new GpuError(`backend "${backend}" (WG_BACKEND or initDevice({ backend })) chooses among Dawn's backends, but ${source} picks its own: leave the backend unset`);
  }
  instances.push(gpu);
  for (const featureLevel of ['core', 'compatibility'] as const) {
    const adapter = await gpu.requestAdapter({ featureLevel, powerPreference } as GPURequestAdapterOptions);
    if (!adapter) continue;
    wgslOf.set(adapter, [...(gpu.wgslLanguageFeatures ?? [])].sort());
    // an implementation without compatibility mode hands out a core adapter for either request
    const core = featureLevel === 'core' || adapter.features.has('core-features-and-limits' as GPUFeatureName);
    return { adapter, backend: source, featureLevel: core ? 'core' : 'compatibility' };
  }
  return null;
}

async function open(opts: InitOptions): Promise<DeviceInfo> {
  const page = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  const gpu = opts.gpu ?? page;
  let found: Found | null;
  const backend = (opts.backend ?? (env('WG_BACKEND') as Backend | undefined) ?? 'auto') as Backend;
  const valid: Backend[] = ['auto', 'vulkan', 'metal', 'd3d12', 'opengl', 'opengles'];
  if (!valid.includes(backend)) throw new GpuError(`unknown backend "${backend}" (WG_BACKEND): use one of ${valid.join(', ')}`);
  if (gpu) {
    const source = opts.gpu ? 'the given GPU' : 'navigator.gpu';
    // the engine names buffer usages through these globals: a browser has them, Node needs Dawn's
    if (typeof (globalThis as { GPUBufferUsage?: unknown }).GPUBufferUsage === 'undefined') Object.assign(globalThis, (await import('webgpu')).globals);
    found = await givenAdapter(gpu, source, backend, opts.powerPreference);
    if (!found) throw new GpuError(`${source} offers no WebGPU adapter (requestAdapter() returned null): the GPU may be blocklisted or WebGPU disabled; in Chromium without a GPU start it with --enable-unsafe-webgpu`);
  } else {
    if (!isNode()) throw new GpuError(BROWSER_HINT);
    const dawn: Dawn = await import('webgpu');
    nodeProcess()!.env.EGL_PLATFORM ??= 'surfaceless'; // llvmpipe through EGL needs no display
    Object.assign(globalThis, dawn.globals); // GPUBufferUsage & co.
    found = await chooseAdapter(dawn, backend, opts.powerPreference);
    if (!found) throw new GpuError(backend === 'auto' ? INSTALL_HINT : `no WebGPU adapter for backend "${backend}". ${INSTALL_HINT}`);
  }
  const { adapter, featureLevel } = found;

  const want: GPUFeatureName[] = ['shader-f16', 'subgroups', 'timestamp-query'];
  const requiredFeatures = want.filter((f) => adapter.features.has(f));
  const a = adapter.limits;
  // Ask for everything the kernels can use, up to what the adapter offers: compat defaults are far lower.
  const names = [
    'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY', 'maxComputeWorkgroupSizeZ',
    'maxComputeWorkgroupStorageSize', 'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupsPerDimension',
    'maxStorageBuffersPerShaderStage', 'maxBindGroups', 'maxUniformBufferBindingSize',
  ] as const;
  const requiredLimits: Record<string, number> = {};
  for (const n of names) requiredLimits[n] = a[n];
  const d = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'engine' });

  d.addEventListener('uncapturederror', (ev) => {
    pendingErrors.push((ev as GPUUncapturedErrorEvent).error.message);
  });
  d.lost.then((l) => { if (dev === d) lostReason = `${l.reason}: ${l.message}`; });

  const ai = adapter.info;
  const lim = d.limits;
  info = {
    backend: found.backend,
    description: [ai.description, ai.vendor, ai.architecture].filter(Boolean).join(' ') || 'unknown adapter',
    featureLevel,
    software: isSoftware(adapter),
    shaderF16: d.features.has('shader-f16'),
    subgroups: d.features.has('subgroups') && (wgslOf.get(adapter) ?? []).includes('subgroup_id'),
    timestampQuery: d.features.has('timestamp-query'),
    wgslFeatures: wgslOf.get(adapter) ?? [],
    features: [...d.features].sort(),
    limits: {
      maxComputeInvocationsPerWorkgroup: lim.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: lim.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupStorageSize: lim.maxComputeWorkgroupStorageSize,
      maxStorageBufferBindingSize: lim.maxStorageBufferBindingSize,
      maxBufferSize: lim.maxBufferSize,
      maxComputeWorkgroupsPerDimension: lim.maxComputeWorkgroupsPerDimension,
      maxStorageBuffersPerShaderStage: lim.maxStorageBuffersPerShaderStage,
      minStorageBufferOffsetAlignment: lim.minStorageBufferOffsetAlignment,
    },
  };
  dev = d;
  return info;
}

/** One line naming the adapter, its backend, optional features and key limits. */
export function describeDevice(i: DeviceInfo = deviceInfo()): string {
  const mib = (b: number) => `${Math.round(b / 2 ** 20)} MiB`;
  const opt = [i.shaderF16 ? 'shader-f16' : 'no shader-f16 (packed halves)', i.subgroups && 'subgroups', i.timestampQuery && 'timestamp-query']
    .filter(Boolean).join(', ');
  return `${i.description} [${i.backend}, ${i.featureLevel}${i.software ? ', software' : ''}] ${opt}; invocations/wg ${i.limits.maxComputeInvocationsPerWorkgroup}, ` +
    `wg storage ${i.limits.maxComputeWorkgroupStorageSize} B, binding ${mib(i.limits.maxStorageBufferBindingSize)}, buffer ${mib(i.limits.maxBufferSize)}`;
}

/** Errors Dawn reported since the last call (validation, out-of-memory, internal), oldest first. */
export function takeGpuErrors(): string[] {
  return pendingErrors.splice(0);
}

