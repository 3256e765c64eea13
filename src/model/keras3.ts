/**
 * Keras 3 configs in the Keras 2 form TF.js reads. Keras 3 (and tensorflowjs_converter on a Keras 3 model)
 * writes InputLayer's `batch_shape`, dtype policies as objects, `module` / `registered_name` beside every
 * class name, and inbound nodes as call records (`{args: [{class_name: "__keras_tensor__", config:
 * {keras_history: [layer, node, tensor]}}], kwargs}`); stock TF.js 4.22 cannot load any of these. The model is
 * rewritten once, when it is read, so the baseline's evaluation, every pass and the output all see (and
 * write) the form stock TF.js loads. A Keras 2 config comes back unchanged (the same object).
 */
type Json = unknown;
type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Whether a layers-model topology is in Keras 3's form. */
export function isKeras3Topology(topology: unknown): boolean {
  let found = false;
  visitLayers(topology, (layer) => {
    if ('module' in layer || 'registered_name' in layer) found = true;
    const config = layer.config;
    if (isObj(config) && ('batch_shape' in config || isObj(config.dtype))) found = true;
    const nodes = layer.inbound_nodes;
    if (Array.isArray(nodes) && nodes.some((n) => isObj(n) && 'args' in n)) found = true;
  });
  return found;
}

/** The topology in Keras 2 form (a new object), or the same object when it already is. */
export function keras2Topology(topology: unknown): unknown {
  if (!isKeras3Topology(topology)) return topology;
  return convert(topology);
}

function visitLayers(node: unknown, see: (layer: Obj) => void): void {
  if (Array.isArray(node)) return node.forEach((n) => visitLayers(n, see));
  if (!isObj(node)) return;
  if (typeof node.class_name === 'string' && isObj(node.config) && 'name' in node.config) see(node);
  for (const v of Object.values(node)) visitLayers(v, see);
}

/** Rewrites recursively, into new objects. */
function convert(v: Json): Json {
  if (Array.isArray(v)) return v.map(convert);
  if (!isObj(v)) return v;
  // A dtype policy object becomes its name (TF.js reads a dtype string).
  if (v.class_name === 'DTypePolicy' || v.class_name === 'Policy') {
    const name = isObj(v.config) ? v.config.name : undefined;
    return typeof name === 'string' ? name : 'float32';
  }
  const out: Obj = {};
  // A model's layers refer to one another by [layer, node, tensor]; calls of a nested model are renumbered.
  const nested = nestedModels(v);
  for (const [k, x] of Object.entries(v)) {
    if (k === 'module' || k === 'registered_name' || k === 'build_config' || k === 'compile_config') continue;
    if (k === 'layers' && nested.size > 0 && Array.isArray(x))
      out[k] = x.map((layer) => {
        const c = convert(layer);
        if (isObj(c) && Array.isArray(c.inbound_nodes)) c.inbound_nodes = renumber(c.inbound_nodes, nested);
        return c;
      });
    else if (k === 'inbound_nodes' && Array.isArray(x)) out[k] = x.map(inboundNode);
    else if ((k === 'input_layers' || k === 'output_layers') && Array.isArray(x))
      out[k] = renumber(tensorRefs(x), nested);
    else out[k] = convert(x);
  }
  if (out.class_name === 'InputLayer' && isObj(out.config) && 'batch_shape' in out.config) {
    const { batch_shape, ...rest } = out.config;
    out.config = { batch_input_shape: batch_shape, ...rest };
  }
  if (out.class_name === 'Sequential' && isObj(out.config)) out.config = sequentialWithoutInputLayer(out.config);
  return out;
}

/**
 * The layers of a model's config that are models themselves and were built on an input of their own. Keras 2
 * (and TF.js) count that build as the nested model's node 0, so its first call in the outer model is node 1
 * (Keras 2's functional.py, `_should_skip_first_node`); Keras 3 numbers the calls from 0. A Sequential counts
 * only when it has an input (its InputLayer listed first), as in Keras 2.
 */
function nestedModels(config: Obj): Set<string> {
  const names = new Set<string>();
  if (!Array.isArray(config.layers)) return names;
  for (const layer of config.layers as unknown[]) {
    if (!isObj(layer) || !isObj(layer.config)) continue;
    const name = layer.config.name ?? layer.name;
    const layers = layer.config.layers;
    const withInput = Array.isArray(layers) && isObj(layers[0]) && layers[0].class_name === 'InputLayer';
    if (typeof name !== 'string') continue;
    if (layer.class_name === 'Functional' || layer.class_name === 'Model') names.add(name);
    else if (layer.class_name === 'Sequential' && withInput) names.add(name);
  }
  return names;
}

/** [layer, node, tensor, …] references (nested in lists) with a nested model's node index one higher. */
function renumber(refs: unknown[], nested: ReadonlySet<string>): unknown[] {
  if (nested.size === 0) return refs;
  return refs.map((r: unknown) => {
    if (!Array.isArray(r)) return r;
    const ref = r as unknown[];
    const [name, node] = ref;
    if (typeof name === 'string' && typeof node === 'number')
      return nested.has(name) ? [name, node + 1, ...ref.slice(2)] : ref;
    return renumber(ref, nested);
  });
}

/** Keras 3 writes one output or input as a bare [name, node, tensor]; Keras 2 as a list of them. */
function tensorRefs(refs: unknown[]): unknown[] {
  return typeof refs[0] === 'string' ? [refs] : refs;
}

/** A Keras 3 call record as Keras 2's list of [layer, node, tensor, kwargs] entries. */
function inboundNode(node: unknown): unknown {
  if (!isObj(node) || !('args' in node)) return convert(node);
  const refs: unknown[] = [];
  const collect = (a: unknown): void => {
    if (Array.isArray(a)) return a.forEach(collect);
    if (!isObj(a)) return;
    if (a.class_name === '__keras_tensor__' && isObj(a.config) && Array.isArray(a.config.keras_history)) {
      const [layer, nodeIndex, tensorIndex] = a.config.keras_history as unknown[];
      refs.push([layer, nodeIndex, tensorIndex, {}]);
    }
  };
  collect(node.args);
  // Keyword tensors (rare: attention masks) follow the positional ones, as Keras 2 lists them.
  if (isObj(node.kwargs)) for (const v of Object.values(node.kwargs)) collect(v);
  return refs;
}

/**
 * Keras 3's Sequential lists its InputLayer first; TF.js's Sequential takes the input shape on the first
 * real layer instead (`batch_input_shape`).
 */
function sequentialWithoutInputLayer(config: Obj): Obj {
  const layers = config.layers;
  if (!Array.isArray(layers) || !isObj(layers[0]) || layers[0].class_name !== 'InputLayer') return config;
  const input = layers[0].config as Obj;
  const [, first, ...rest] = layers as Obj[];
  if (!first) return config;
  const firstConfig: Obj = { ...(first.config as Obj), batch_input_shape: input.batch_input_shape };
  if (typeof input.dtype === 'string') firstConfig.dtype = input.dtype;
  return { ...config, layers: [{ ...first, config: firstConfig }, ...rest] };
}

/**
 * The converter names a Keras 3 DepthwiseConv2D's weight `<layer>/kernel` (the h5 path); TF.js looks for
 * `<layer>/depthwise_kernel`. Returns the manifest with such names changed, or the same one.
 */
export function keras2WeightNames(topology: unknown, manifest: unknown): unknown {
  const depthwise = new Set<string>();
  visitLayers(topology, (layer) => {
    if (layer.class_name === 'DepthwiseConv2D') depthwise.add(String((layer.config as Obj).name));
  });
  if (depthwise.size === 0 || !Array.isArray(manifest)) return manifest;
  return manifest.map((group: unknown) => {
    if (!isObj(group) || !Array.isArray(group.weights)) return group;
    const weights = (group.weights as unknown[]).map((w) => {
      if (!isObj(w) || typeof w.name !== 'string') return w;
      const cut = w.name.lastIndexOf('/');
      const layer = w.name.slice(0, cut);
      return cut > 0 && w.name.slice(cut + 1) === 'kernel' && depthwise.has(layer)
        ? { ...w, name: `${layer}/depthwise_kernel` }
        : w;
    });
    return { ...group, weights };
  });
}
