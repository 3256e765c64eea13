/**
 * Weights are matched to layers by name: `<layer>/<key>` in a layers model (TF.js's `originalName`, the
 * manifest name, possibly under a scope: "model/conv1/kernel"), the name up to its last '/' in a graph model.
 */

/** The layer part of a weight name: "conv_pw_1_bn/gamma" → "conv_pw_1_bn" (undefined without a "/"). */
export function weightLayer(weightName: string): string | undefined {
  return weightName.split('/').at(-2);
}

/** The weight's own part of its name: "conv_pw_1_bn/gamma" → "gamma". */
export function weightKey(weightName: string): string {
  return weightName.split('/').at(-1)!;
}

/** Layer name → class name, from a layers model's topology, nested models included (undefined for a graph model). */
export function layerClasses(json: Record<string, unknown>): Map<string, string> | undefined {
  const obj = (v: unknown): Record<string, unknown> | undefined =>
    typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  const topology = obj(json.modelTopology);
  if (!topology || Array.isArray(topology.node)) return undefined;
  const out = new Map<string, string>();
  const walk = (layer: unknown): void => {
    const l = obj(layer);
    const config = obj(l?.config);
    if (typeof l?.class_name === 'string' && typeof config?.name === 'string') out.set(config.name, l.class_name);
    const inner = Array.isArray(l?.config) ? l.config : (config?.layers ?? l?.layers); // Keras < 2.2.3: a bare list
    if (Array.isArray(inner)) inner.forEach(walk);
  };
  walk(obj(topology.model_config) ?? topology);
  return out;
}

/**
 * The layer a weight belongs to, as override blocks name layers (modelLayers): the `<layer>` of a layers
 * model's `<layer>/<weight>`, or a graph model's weight group (the name up to its last '/'). Shared by the
 * weight passes, so a pattern selects the same weights in each.
 */
export function layerOfWeight(name: string, classes: Map<string, string> | undefined): string {
  const cut = name.lastIndexOf('/');
  if (cut <= 0) return name;
  const parent = name.slice(name.lastIndexOf('/', cut - 1) + 1, cut);
  return classes?.has(parent) ? parent : name.slice(0, cut);
}
