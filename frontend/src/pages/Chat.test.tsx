import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { MemoryRouter } from 'react-router';
import { afterEach, beforeEach, describe, expect, it, vi, type Mock } from 'vitest';
import { jsonResponse, manualStream, sseResponse } from '../test/streams.ts';
import { RuntimeConfigContext } from '../config.ts';
import { Chat } from './Chat.tsx';

const TOKEN_KEY = 'deckhand.accessToken';
let fetchMock: Mock<typeof fetch>;

beforeEach(() => {
  fetchMock = vi.fn<typeof fetch>();
  vi.stubGlobal('fetch', fetchMock);
});

afterEach(() => {
  vi.unstubAllGlobals();
});

function renderChat() {
  return render(
    <MemoryRouter initialEntries={['/chat']}>
      <Chat />
    </MemoryRouter>,
  );
}

function requestOf(call: number): { auth: string | null; body: unknown } {
  const init = fetchMock.mock.calls[call]?.[1];
  return { auth: new Headers(init?.headers).get('authorization'), body: JSON.parse(init?.body as string) };
}

async function typeAndSend(text: string) {
  const box = screen.getByLabelText('Message');
  await userEvent.type(box, text);
  await userEvent.keyboard('{Enter}');
}

describe('Chat', () => {
  it('asks for the token, stores it in sessionStorage, then shows the composer', async () => {
    renderChat();
    const input = screen.getByLabelText('Access token');
    expect(input).toHaveFocus();
    expect(screen.queryByLabelText('Message')).not.toBeInTheDocument();

    await userEvent.click(screen.getByRole('button', { name: 'Save token' }));
    expect(screen.getByText('Enter the access token.')).toBeInTheDocument();

    await userEvent.type(input, 'secret-token{Enter}');
    expect(sessionStorage.getItem(TOKEN_KEY)).toBe('secret-token');
    expect(screen.getByLabelText('Message')).toHaveFocus();
  });

  it('does not ask again when the tab already has a token', () => {
    sessionStorage.setItem(TOKEN_KEY, 'kept');
    renderChat();
    expect(screen.queryByLabelText('Access token')).not.toBeInTheDocument();
    expect(screen.getByLabelText('Message')).toBeInTheDocument();
  });

  it('streams the reply token by token with the bearer token', async () => {
    sessionStorage.setItem(TOKEN_KEY, 'tok');
    const stream = manualStream();
    fetchMock.mockResolvedValueOnce(stream.response);
    renderChat();

    await typeAndSend('Hello there');
    expect(fetchMock.mock.calls[0]?.[0]).toBe('/api/chat');
    expect(requestOf(0)).toEqual({
      auth: 'Bearer tok',
      body: { messages: [{ role: 'user', content: 'Hello there' }] },
    });
    expect(screen.getByText('Hello there')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Stop' })).toBeInTheDocument();
    expect(screen.getByRole('log')).toHaveAttribute('aria-busy', 'true');

    stream.push('event: delta\ndata: {"text":"General"}\n\nevent: del');
    expect(await screen.findByText('General', { exact: false })).toBeInTheDocument();
    stream.push('ta\ndata: {"text":" Kenobi"}\n\n');
    expect(await screen.findByText('General Kenobi', { exact: false })).toBeInTheDocument();
    stream.push('event: done\ndata: {}\n\n');
    stream.close();

    await waitFor(() => {
      expect(screen.getByRole('log')).toHaveAttribute('aria-busy', 'false');
    });
    expect(screen.queryByLabelText('Claude is replying')).not.toBeInTheDocument();
    expect(screen.getByLabelText('Message')).toHaveValue('');
  });

  it('posts to the API base of the runtime config (config.json), same origin without one', async () => {
    sessionStorage.setItem(TOKEN_KEY, 'tok');
    fetchMock.mockResolvedValueOnce(sseResponse(['event: done\ndata: {}\n\n']));
    render(
      <RuntimeConfigContext value={{ apiBase: 'https://api.example' }}>
        <MemoryRouter initialEntries={['/chat']}>
          <Chat />
        </MemoryRouter>
      </RuntimeConfigContext>,
    );
    await typeAndSend('Hi');
    await waitFor(() => {
      expect(fetchMock).toHaveBeenCalledTimes(1);
    });
    expect(fetchMock.mock.calls[0]?.[0]).toBe('https://api.example/api/chat');
  });

  it('sends the earlier exchange with the next message', async () => {
    sessionStorage.setItem(TOKEN_KEY, 'tok');
    fetchMock
      .mockResolvedValueOnce(sseResponse(['event: delta\ndata: {"text":"Four."}\n\nevent: done\ndata: {}\n\n']))
      .mockResolvedValueOnce(sseResponse(['event: delta\ndata: {"text":"Five."}\n\nevent: done\ndata: {}\n\n']));
    renderChat();
    await typeAndSend('2+2?');
    await screen.findByText('Four.');
    await waitFor(() => {
      expect(screen.getByRole('button', { name: 'Send' })).toBeInTheDocument();
    });
    await typeAndSend('+1?');
    await screen.findByText('Five.');
    expect(requestOf(1).body).toEqual({
      messages: [
        { role: 'user', content: '2+2?' },
        { role: 'assistant', content: 'Four.' },
        { role: 'user', content: '+1?' },
      ],
    });
  });

  it('Shift+Enter inserts a newline instead of sending', async () => {
    sessionStorage.setItem(TOKEN_KEY, 'tok');
    renderChat();
    const box = screen.getByLabelText('Message');
    await userEvent.type(box, 'one{Shift>}{Enter}{/Shift}two');
    expect(box).toHaveValue('one\ntwo');
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it('on 401 forgets the token, asks again and keeps the message', async () => {
    sessionStorage.setItem(TOKEN_KEY, 'wrong');
    fetchMock
      .mockResolvedValueOnce(jsonResponse(401, { statusCode: 401, message: 'Unauthorized' }))
      .mockResolvedValueOnce(sseResponse(['event: delta\ndata: {"text":"Hi!"}\n\nevent: done\ndata: {}\n\n']));
    renderChat();
    await typeAndSend('Hello');

    expect(await screen.findByRole('alert')).toHaveTextContent('The access token was rejected. Enter it again.');
    expect(sessionStorage.getItem(TOKEN_KEY)).toBeNull();
    const input = screen.getByLabelText('Access token');
    expect(input).toHaveFocus();

    await userEvent.type(input, 'right{Enter}');
    expect(screen.getByLabelText('Message')).toHaveValue('Hello');
    await userEvent.keyboard('{Enter}');
    expect(await screen.findByText('Hi!')).toBeInTheDocument();
    expect(requestOf(1).auth).toBe('Bearer right');
  });

  it('shows 429 inline with the Retry-After delay and keeps the message', async () => {
    sessionStorage.setItem(TOKEN_KEY, 'tok');
    fetchMock.mockResolvedValueOnce(
      jsonResponse(429, { statusCode: 429, message: 'ThrottlerException: Too Many Requests' }, { 'Retry-After': '7' }),
    );
    renderChat();
    await typeAndSend('Again');
    expect(await screen.findByRole('alert')).toHaveTextContent('Too many requests. Try again in 7 seconds.');
    expect(screen.getByLabelText('Message')).toHaveValue('Again');
    expect(screen.queryByText('Again', { selector: '.text' })).not.toBeInTheDocument();
    expect(screen.queryByLabelText('Access token')).not.toBeInTheDocument();
  });

  it('shows a network failure inline', async () => {
    sessionStorage.setItem(TOKEN_KEY, 'tok');
    fetchMock.mockRejectedValueOnce(new TypeError('Failed to fetch'));
    renderChat();
    await typeAndSend('Anyone?');
    expect(await screen.findByRole('alert')).toHaveTextContent('Could not reach the server.');
    expect(screen.getByLabelText('Message')).toHaveValue('Anyone?');
  });

  it('keeps a partial reply and shows the error event message', async () => {
    sessionStorage.setItem(TOKEN_KEY, 'tok');
    fetchMock.mockResolvedValueOnce(
      sseResponse(['event: delta\ndata: {"text":"Half a"}\n\nevent: error\ndata: {"message":"Upstream error"}\n\n']),
    );
    renderChat();
    await typeAndSend('Tell me');
    expect(await screen.findByRole('alert')).toHaveTextContent('The reply was interrupted: Upstream error');
    expect(screen.getByText('Half a')).toBeInTheDocument();
    expect(screen.getByText('Reply incomplete')).toBeInTheDocument();
    expect(screen.getByLabelText('Message')).toHaveValue('');
  });

  it('Stop aborts the stream without an error', async () => {
    sessionStorage.setItem(TOKEN_KEY, 'tok');
    fetchMock.mockImplementationOnce((_url, init) => {
      const stream = manualStream();
      init?.signal?.addEventListener('abort', () => {
        stream.fail(new DOMException('The operation was aborted.', 'AbortError'));
      });
      stream.push('event: delta\ndata: {"text":"Once upon"}\n\n');
      return Promise.resolve(stream.response);
    });
    renderChat();
    await typeAndSend('Story');
    await screen.findByText('Once upon');
    await userEvent.click(screen.getByRole('button', { name: 'Stop' }));
    expect(await screen.findByRole('button', { name: 'Send' })).toBeInTheDocument();
    expect(screen.queryByRole('alert')).not.toBeInTheDocument();
    expect(screen.getByText('Reply incomplete')).toBeInTheDocument();
  });
});
