// Kernels register themselves by name with a trampoline that calls them with the
// arguments of a cuLaunchKernel parameter array (each entry points at one argument).
#pragma once
#include <utility>

typedef void (*EmuTrampoline)(void** params);

struct EmuRegistration {
    EmuRegistration(const char* name, EmuTrampoline trampoline);
};

template <typename... A, std::size_t... I>
void emu_invoke(void (*f)(A...), void** params, std::index_sequence<I...>) {
    f(*static_cast<A*>(params[I])...);
}

template <typename... A>
constexpr std::size_t emu_arity(void (*)(A...)) { return sizeof...(A); }

template <auto F>
void emu_trampoline(void** params) {
    emu_invoke(F, params, std::make_index_sequence<emu_arity(F)>{});
}
