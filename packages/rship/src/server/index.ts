import { rshipPlugin } from './plugin.js';

export { rshipPlugin, type RshipPluginOptions } from './plugin.js';
export { RshipError } from './routing.js';
export { getTargetViews, getTargetTreeByParentFiltered, targetView, type TargetView } from './views.js';

/** The default plugin, as `myko serve` loads it (`--plugins @myko/rship/server`). */
export default rshipPlugin();
