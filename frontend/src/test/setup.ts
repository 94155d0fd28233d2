import '@testing-library/jest-dom/vitest';
import { cleanup } from '@testing-library/react';
import { afterEach } from 'vitest';

// Files marked `@vitest-environment node` (the SSE and API client tests) have no DOM.
const hasDom = typeof window !== 'undefined';

if (hasDom) {
  // jsdom does not lay out, so it has no scrollIntoView; the chat log calls it on every update.
  Element.prototype.scrollIntoView = function scrollIntoView() {
    /* no layout in jsdom */
  };
}

afterEach(() => {
  if (!hasDom) return;
  cleanup();
  sessionStorage.clear();
});
