/* demo_engine.h — the read-only "demo:N" engine of tests/ext (demo_engine.c). */
#ifndef DEMO_ENGINE_H
#define DEMO_ENGINE_H

#include <ferry/engine.h>

extern const ferry_engine demo_engine;

#endif
