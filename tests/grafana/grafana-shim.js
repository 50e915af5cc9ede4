// SPDX-License-Identifier: MIT
// The few browser globals that @grafana/data's imports touch, so that its
// pure data code (transformers, matchers, range utilities) runs in node.
'use strict';
const mem = {};
global.window = {addEventListener() {}, removeEventListener() {}, dispatchEvent: () => true,
  location: {href: 'http://localhost/'}, navigator: {userAgent: 'node'},
  matchMedia: () => ({matches: false, addListener() {}, removeListener() {}}),
  localStorage: {getItem: (k) => mem[k] ?? null, setItem: (k, v) => { mem[k] = String(v); },
    removeItem: (k) => { delete mem[k]; }}};
global.localStorage = window.localStorage;
global.history = window.history = {pushState() {}, replaceState() {}};
global.document = {getElementsByTagName: () => [{}], head: {appendChild() {}},
  addEventListener() {}, documentElement: {style: {}},
  createElement: () => ({getContext: () => null, style: {}, appendChild() {}, setAttribute() {},
    sheet: {insertRule() {}, cssRules: []}})};
global.requestAnimationFrame = (f) => setTimeout(f, 0);
process.env.NODE_ENV = 'production';
