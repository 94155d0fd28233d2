import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter } from 'react-router';
import { App } from './App.tsx';
import { loadConfig, RuntimeConfigContext } from './config.ts';
import './index.css';

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');

// The API base comes from /config.json (deckhand's frontend.runtime-config), read before the
// first render so the build is the same in every environment.
void loadConfig().then((config) => {
  createRoot(root).render(
    <StrictMode>
      <RuntimeConfigContext value={config}>
        <BrowserRouter>
          <App />
        </BrowserRouter>
      </RuntimeConfigContext>
    </StrictMode>,
  );
});
