// Repository descriptions are Markdown written by any account and shown to everyone: raw HTML is
// escaped (html: false) and links or images may only point to http(s), mailto or relative URLs.
import type MarkdownIt from 'markdown-it';

const SAFE_SCHEMES = new Set(['http', 'https', 'mailto']);

/** The renderer, built on the first description shown: an idle server does not carry markdown-it. */
let renderer: Promise<MarkdownIt> | undefined;

async function build(): Promise<MarkdownIt> {
  const { default: MarkdownItClass } = await import('markdown-it');
  const md = new MarkdownItClass({ html: false, linkify: true, typographer: false });
  md.validateLink = (url: string) => {
    // Browsers ignore control characters and spaces inside a scheme (`java\tscript:`).
    const cleaned = [...url].filter((c) => c.charCodeAt(0) > 0x20 && c.charCodeAt(0) !== 0x7f).join('');
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(cleaned)?.[1];
    return scheme === undefined || SAFE_SCHEMES.has(scheme.toLowerCase());
  };
  // Links leave the hub without handing it the referrer or window.opener.
  const defaultLinkOpen = md.renderer.rules.link_open;
  md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
    tokens[idx]?.attrSet('rel', 'nofollow noopener noreferrer');
    return defaultLinkOpen ? defaultLinkOpen(tokens, idx, options, env, self) : self.renderToken(tokens, idx, options);
  };

  return md;
}

export async function renderMarkdown(text: string): Promise<string> {
  renderer ??= build();
  return (await renderer).render(text);
}
