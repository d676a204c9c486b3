import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

export default {
  preprocess: vitePreprocess({ script: false }),
  compilerOptions: {
    // Pages and boards are keyed on their props ({#key entity}), so reading
    // a prop once at creation is what they mean.
    warningFilter: (w) => w.code !== 'state_referenced_locally',
  },
};
